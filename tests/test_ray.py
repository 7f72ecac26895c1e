"""The Ray executor (issue 12) with the fake renderer: a local Ray instance
(``ray.init(num_cpus=2)``) and a two-node cluster on this machine (a head and a
worker node started with ``ray start`` on 127.0.0.1, stopped by the test), each
byte-identical to a local run; a broken scene recorded; kill -9 of the driver
during a Ray run at random moments, then --resume."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from render.config import Config
from render.driver import RenderFailed, run_render
from tests import test_scale
from tests.test_scale import DEMO, FAKE, ROOT, TINY, cli, same_output

ray = pytest.importorskip("ray", reason="Ray is the [cluster] extra (make test installs it)")
RAY_BIN = str(Path(sys.executable).parent / "ray")
# Loopback test cluster: no token auth (Ray >= 2.5x enables it by default), no stats.
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


cfg = pytest.fixture(scope="module")(test_scale.scale_config)
reference = pytest.fixture(scope="module")(test_scale.reference_run)


def test_local_ray_instance_equals_local_run(
    cfg: Config, reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from render.executors.ray import RayExecutor

    for key, value in RAY_ENV.items():
        monkeypatch.setenv(key, value)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        out = tmp_path / "ray"
        executor = RayExecutor(None, FAKE, cfg.render.device, out, chunk=3)
        result = run_render(cfg, out, renderer=FAKE, progress=False, executor=executor)
        assert result["scenes"] == 8 and ray.is_initialized()  # not ours to stop
        same_output(out, reference)
        ds = json.loads((out / "dataset.json").read_text())
        assert ds["workers"]["executor"] == "ray" and ds["workers"]["count"] == 2

        # a broken scene lands in failures.jsonl, the others complete
        monkeypatch.setenv("SYNTHCV_FAKE_ERROR", "6")
        broken = tmp_path / "broken"
        executor = RayExecutor(None, FAKE, cfg.render.device, broken, chunk=2)
        with pytest.raises(RenderFailed, match=r"scene 6 failed: RuntimeError.*failures.jsonl"):
            run_render(cfg, broken, renderer=FAKE, progress=False, executor=executor)
        record = json.loads((broken / "failures.jsonl").read_text())
        assert record["scene_index"] == 6 and "fake renderer error" in record["traceback"]
        assert json.loads((broken / "dataset.json").read_text())["scenes"] == 7
    finally:
        ray.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(path: Path, text: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.is_file() and text in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    raise AssertionError(f"ray start did not come up: {path.read_text(errors='replace')[-2000:]}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A head and a worker node (1 CPU each) on 127.0.0.1; each ``ray start --block``
    runs in its own session and the test stops exactly those process groups."""
    logs = tmp_path_factory.mktemp("ray-logs")
    port = _free_port()
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, **RAY_ENV, "PYTHONPATH": path}
    common = ["--block", "--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats"]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for k, args in enumerate(
            (["--head", f"--port={port}", "--include-dashboard=false"],
             [f"--address=127.0.0.1:{port}"])
        ):  # fmt: skip
            log = logs / f"node{k}.log"
            with open(log, "wb") as handle:
                procs.append(subprocess.Popen([RAY_BIN, "start", *args, *common], cwd=ROOT,
                             env=env, stdout=handle, stderr=subprocess.STDOUT,
                             start_new_session=True))  # fmt: skip
            _wait_for(log, "Ray runtime started", procs[-1], 180)
        yield f"127.0.0.1:{port}", env
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(procs):
            try:  # a clean `ray start --block` exit takes ~30 s; the nodes are ours to kill
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)


def test_two_node_cluster_equals_local_run(
    cluster: tuple[str, dict[str, str]], reference: Path, tmp_path: Path
) -> None:
    address, env = cluster
    out = tmp_path / "ds"
    args = cli("render", str(DEMO), "--out", str(out), "-n", "8", *TINY, "--ray", address,
               "--ray-chunk", "1")  # fmt: skip
    proc = subprocess.run(args, cwd=ROOT, env={**env, "SYNTHCV_FAKE_DELAY": "0.5"},
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ray: 2 task slot(s)" in proc.stderr
    same_output(out, reference)
    nodes = {
        w["ray_node"] for w in json.loads((out / "dataset.json").read_text())["workers"]["info"]
    }
    assert len(nodes) == 2, nodes  # both nodes rendered


def test_kill_9_during_a_ray_run_then_resume(
    cluster: tuple[str, dict[str, str]], reference: Path, tmp_path: Path
) -> None:
    address, env = cluster
    out = tmp_path / "ds"
    base = cli("render", str(DEMO), "--out", str(out), "-n", "8", *TINY, "--ray", address,
               "--ray-chunk", "1")  # fmt: skip
    slow = {**env, "SYNTHCV_FAKE_DELAY": "1.5"}
    committed = []
    for k, t in enumerate(np.random.default_rng(7).uniform(3.0, 6.0, size=3)):
        proc = subprocess.Popen([*base, "--resume"] if k else base, cwd=ROOT, env=slow,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(float(t))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        committed.append(len(list((out / "shards").glob("*.json"))) if out.is_dir() else 0)
    assert committed[0] < 8, committed  # the first run really was cut short
    done = subprocess.run([*base, "--resume"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    same_output(out, reference)
