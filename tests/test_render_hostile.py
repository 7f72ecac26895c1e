"""Hostile inputs and machines for ``synthcv render`` (issue 9), with the fake
renderer in real worker processes: bad meshes, a read-only or full disk, a worker
killed by the kernel, a Blender error sent back to the driver, a billion scenes,
and no process left behind when the command is interrupted or killed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from render.config import load_config
from render.driver import RenderFailed, run_render
from render.formats.validate import validate_dataset

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "configs" / "demo.yaml"
TINY = ["--resolution", "64x48", "--set", "annotation.min_pixels=1", "--no-progress"]
FAKE = ["--renderer", "tests.fake_renderer"]


def default_sigint() -> None:
    """In the child, before exec: Ctrl-C as in a terminal. A test run started in the
    background by a non-interactive shell (`pytest &`) inherits SIGINT ignored, and
    so would the CLI these tests interrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "render.cli", *args, "--renderer", "tests.fake_renderer"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=full,
        timeout=timeout,
    )


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("synthcv: error:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    return lines[0]


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "the file is empty"),
        (b"v 0 0 0\nv 1 0 0\nf 1 2 3\n", "cannot read the mesh"),
        (b"v 0 0 0\n", "no faces"),
    ],
)
def test_bad_mesh_is_one_line_and_writes_nothing(tmp_path: Path, content: bytes, says: str) -> None:
    mesh = tmp_path / "part.obj"
    mesh.write_bytes(content)
    out = tmp_path / "out"
    for config, key in (
        ("configs/demo.yaml", "scene.shapes.5.mesh"),
        ("configs/defects.yaml", "scene.products.0.mesh"),
    ):
        extra = ["--set", f"{key}={mesh}"]
        if "defects" in config:
            extra += [
                "--set",
                "scene.products.0.family=mesh",
                "--set",
                "scene.products.0.params={}",
            ]
        line = one_line_error(cli("render", config, "--out", str(out), *extra, *TINY))
        assert says in line and "part.obj" in line
        assert not out.exists()


def test_render_error_from_a_worker_does_not_import_blender(tmp_path: Path) -> None:
    """A RenderError travels back pickled; the driver must not import bpy to read it
    (it then crashed at exit with status 139)."""
    code = (
        "import sys\n"
        "from render.cli import main\n"
        f"rc = main(['render', {str(DEMO)!r}, '--out', {str(tmp_path / 'o')!r}, '-n', '2', "
        "'--resolution', '64x48', '--no-progress', '--renderer', 'tests.fake_renderer'])\n"
        "assert 'bpy' not in sys.modules, 'bpy imported into the driver'\n"
        "sys.exit(rc)\n"
    )
    env = {**os.environ, "SYNTHCV_FAKE_RENDER_ERROR": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )
    line = one_line_error(proc)
    assert "RenderError" in line and "scene 1" in line and "--resume" in line


def test_read_only_output_is_one_line(tmp_path: Path) -> None:
    parent = tmp_path / "ro"
    parent.mkdir()
    if subprocess.run(["chattr", "+i", str(parent)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available on this filesystem")
    try:
        line = one_line_error(cli("render", str(DEMO), "--out", str(parent / "out"), *TINY))
        assert "cannot write the output" in line
    finally:
        subprocess.run(["chattr", "-i", str(parent)], check=True)


@pytest.mark.parametrize("attempt", range(4))
def test_a_killed_worker_is_named_out_of_memory(tmp_path: Path, attempt: int) -> None:
    """Four times: the executor's thread may reap the dead worker before the driver
    reads its exit code (before the fix ~1 run in 6 said only 'a worker process
    died')."""
    proc = cli(
        "render",
        str(DEMO),
        "--out",
        str(tmp_path / "o"),
        "-n",
        "3",
        *TINY,
        env={"SYNTHCV_FAKE_KILL": "1"},
    )
    line = one_line_error(proc)
    assert (
        "scene 1 crashed the worker process 2 times" in line
        and "SIGKILL" in line
        and "out of memory" in line
    )
    assert "2 of 3 scenes committed" in line and "--resume" in line


def test_a_billion_scenes_start_at_once_in_bounded_memory(tmp_path: Path) -> None:
    """Scenes are planned lazily: -n 1000000000 renders its first scenes within
    seconds and a small resident set (today's code built full lists first)."""
    out = tmp_path / "big"
    env = {**os.environ, "SYNTHCV_FAKE_DELAY": "0.2"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "render.cli", "render", str(DEMO), "--out", str(out), "-n", "1000000000", *TINY, *FAKE],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=default_sigint,
    )  # fmt: skip
    deadline = time.time() + 60
    while time.time() < deadline and len(list((out / "shards").glob("*.json"))) < 3:
        time.sleep(0.5)
    status = Path(f"/proc/{proc.pid}/status").read_text()
    peak_mib = (
        int(next(ln for ln in status.splitlines() if ln.startswith("VmHWM:")).split()[1]) / 1024
    )
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "of 1000000000 scenes committed" in err and "--resume" in err
    assert len(list((out / "shards").glob("*.json"))) >= 3
    assert peak_mib < 600, peak_mib  # the driver process: lists of 10^9 scenes were GBs


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            with open(task / "children") as handle:
                kids = {int(c) for c in handle.read().split()}
            todo += list(kids - found)
            found |= kids
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


@pytest.mark.parametrize("how", ["interrupt", "kill"])
def test_no_process_is_left_behind(tmp_path: Path, how: str) -> None:
    """Ctrl-C, or SIGKILL of the driver, ends every worker process it started."""
    env = {**os.environ, "SYNTHCV_FAKE_DELAY": "30"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "render.cli", "render", str(DEMO), "--out", str(tmp_path / "o"), "-n", "6", "--workers", "2", *TINY, *FAKE],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=default_sigint,
    )  # fmt: skip
    deadline = time.time() + 60
    workers: set[int] = set()
    while time.time() < deadline and len(workers) < 2:
        time.sleep(0.5)
        workers = {
            p
            for p in _children(proc.pid)
            if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()
        }
    assert len(workers) >= 2, "the workers did not start"
    family = _children(proc.pid)
    proc.send_signal(signal.SIGINT if how == "interrupt" else signal.SIGKILL)
    proc.wait(timeout=60)
    if how == "interrupt":
        assert proc.returncode == 130
    deadline = time.time() + 15
    while time.time() < deadline and _alive(family):
        time.sleep(0.2)
    assert not _alive(family), f"left behind: {sorted(_alive(family))}"


def _unshare_ok() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-Urm", "sh", "-c", "mount -t tmpfs -o size=1M tmpfs /mnt && umount /mnt"],
        capture_output=True,
    )
    return probe.returncode == 0


@pytest.mark.skipif(
    not _unshare_ok(), reason="needs unshare -Urm and tmpfs mounts (user namespaces)"
)
def test_full_disk_stops_at_once_then_resume_completes(tmp_path: Path) -> None:
    """Another process fills the disk while scene 3 renders: the run stops at the
    first failed write (not trying every later scene), keeps what was committed,
    prints the --resume command; with space freed, --resume completes the dataset
    and it equals an uninterrupted run."""
    disk = tmp_path / "disk"
    disk.mkdir()
    out = disk / "out"
    filler = disk / "filler.bin"
    args = [
        "render",
        str(DEMO),
        "--out",
        str(out),
        "-n",
        "12",
        "--resolution",
        "64x48",
        "--no-progress",
        *FAKE,
    ]
    py = [sys.executable, "-m", "render.cli"]
    script = f"""
set -u
mount -t tmpfs -o size=40M tmpfs {disk}
SYNTHCV_FAKE_FILL=3:{filler} {" ".join(py + args)} 2> {tmp_path}/err1; echo $? > {tmp_path}/rc1
rm -f {filler}
{" ".join(py + args)} --resume 2> {tmp_path}/err2; echo $? > {tmp_path}/rc2
cp -r {out} {tmp_path}/resumed
"""
    env = dict(os.environ)
    done = subprocess.run(
        ["unshare", "-Urm", "sh", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    err1 = (tmp_path / "err1").read_text()
    assert (tmp_path / "rc1").read_text().strip() == "2", err1[-2000:]
    lines = [ln for ln in err1.splitlines() if ln.startswith("synthcv: error:")]
    assert len(lines) == 1 and "Traceback" not in err1, err1[-2000:]
    assert "out of disk space" in lines[0] and "--resume" in lines[0]
    assert err1.count("failed:") == 0  # it did not go on attempting every later scene
    assert (tmp_path / "rc2").read_text().strip() == "0", (tmp_path / "err2").read_text()[-2000:]
    resumed = tmp_path / "resumed"
    assert validate_dataset(resumed) == []
    reference = tmp_path / "reference"
    cfg = load_config(DEMO, ["num_scenes=12", "render.resolution=[64, 48]"])
    run_render(cfg, reference, renderer="tests.fake_renderer", progress=False)
    a = json.loads((resumed / "annotations.json").read_text())
    b = json.loads((reference / "annotations.json").read_text())
    a.pop("info"), b.pop("info")
    assert a == b


def test_free_space_is_checked_before_each_scene(tmp_path: Path, monkeypatch: Any) -> None:
    """With less free space than a scene needs, nothing is submitted: a one-line
    error names the free space and the resume command."""
    import render.attempts as attempts

    monkeypatch.setattr(attempts, "MIN_FREE_BYTES", 2**62)
    cfg = load_config(DEMO, ["num_scenes=3", "render.resolution=[64, 48]"])
    with pytest.raises(
        RenderFailed, match=r"out of disk space: .* MiB free .* 0 of 3 scenes committed .*--resume"
    ):
        run_render(
            cfg,
            tmp_path / "o",
            renderer="tests.fake_renderer",
            progress=False,
            resume_command="synthcv render x --resume",
        )


def test_huge_mesh_is_refused_by_size_and_faces(tmp_path: Path, monkeypatch: Any) -> None:
    """Caps (512 MiB, 5 M faces) are checked before trimesh builds the whole mesh
    into memory; shown here with small caps on a small mesh."""
    from render.config import ConfigError
    from render.geometry import meshfile

    mesh = tmp_path / "big.obj"
    mesh.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 3\nf 1 2 4\nf 1 3 4\nf 2 3 4\n")
    override = [f"scene.shapes.5.mesh={mesh}"]
    monkeypatch.setattr(meshfile, "MAX_MESH_BYTES", 16)
    with pytest.raises(ConfigError, match=r"scene.shapes\[5\].mesh: .*big.obj: .*MiB limit"):
        load_config(DEMO, override)
    monkeypatch.setattr(meshfile, "MAX_MESH_BYTES", 2**20)
    monkeypatch.setattr(meshfile, "MAX_MESH_FACES", 3)
    with pytest.raises(ConfigError, match="4 faces is more than the 3 limit"):
        load_config(DEMO, override)
