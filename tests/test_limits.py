"""Issue 20: bounded reads and limits that follow the machine. Every config and
JSON the tool reads goes through one bounded reader (aliases, depth, size), counts
are numbers, jobs that cannot fit in memory are refused with an estimate before any
work starts, and the remaining tracebacks are one-line errors."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from render import machine
from render.errors import ConfigError, UserError
from render.formats.inputs import parse_yaml
from tests.cli_run import one_line_error
from tests.cli_run import synthcv as cli
from tests.coco_fixtures import write_coco

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "configs" / "demo.yaml"
PEOPLE = ROOT / "configs" / "pedestrians.yaml"
TRAIN = ROOT / "configs" / "train" / "defects_cpu.yaml"
TINY = ["--resolution", "64x48", "--set", "annotation.min_pixels=1", "--no-progress"]
FAKE = ["--renderer", "tests.fake_renderer"]
LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)
"""A "billion laughs": 9^9 strings from 10 lines."""


def _limit_data(mb: int):  # type: ignore[no-untyped-def]
    def set_limit() -> None:
        resource.setrlimit(resource.RLIMIT_DATA, (mb << 20, mb << 20))

    return set_limit


# --------------------------------------------------------------------------- the one reader


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (LAUGHS, "anchors and aliases"),
        ("a: " + "[" * 50_000 + "]" * 50_000, "nested deeper than 100 levels"),
        ("a: !!python/object/apply:os.system ['echo pwned']", "YAML syntax error"),
        ("a: [1, 2", "line 1, column 9: YAML syntax error"),
    ],
)
def test_yaml_reader_is_bounded(text: str, says: str) -> None:
    t = time.perf_counter()
    with pytest.raises(ConfigError, match=says) as info:
        parse_yaml(text, "x.yaml", ConfigError)
    assert str(info.value).startswith("x.yaml:") and "\n" not in str(info.value)
    assert time.perf_counter() - t < 5


@pytest.mark.parametrize("kind", ["config", "recipe", "set"])
def test_bombs_in_configs_and_recipes_are_one_line_errors(kind: str, tmp_path: Path) -> None:
    """Alias bombs used to grow to 2-3 GB until the kernel killed the process."""
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(LAUGHS)
    t = time.perf_counter()
    if kind == "config":
        proc = cli("render", str(bomb), "--out", str(tmp_path / "o"), *FAKE, env=None,
                   preexec_fn=_limit_data(2048))  # fmt: skip
        one_line_error(proc, "bomb.yaml", "anchors and aliases")
    elif kind == "recipe":
        proc = cli("train", str(bomb), "--out", str(tmp_path / "o"), preexec_fn=_limit_data(2048))
        one_line_error(proc, "bomb.yaml", "anchors and aliases")
    else:
        proc = cli("render", str(DEMO), "--out", str(tmp_path / "o"), *TINY, *FAKE, "--set",
                   "seed=" + "[" * 50_000 + "]" * 50_000)  # fmt: skip
        one_line_error(proc, "--set seed", "nested deeper")
    assert time.perf_counter() - t < 60
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("override", "says"),
    [
        ("num_scenes=true", "num_scenes: expected a number, got true"),
        ("render.samples=.inf", "render.samples: expected a finite number"),
        ("render.samples=2.5", "render.samples: expected an integer"),
        ("render.resolution=[true, 64]", "render.resolution: expected a number"),
        ("scene.people.count=[1, .inf]", "scene.people.count"),
    ],
)
def test_counts_are_numbers(override: str, says: str, tmp_path: Path) -> None:
    config = PEOPLE if "people" in override else DEMO
    proc = cli("render", str(config), "--out", str(tmp_path / "o"), *FAKE, "--set", override)
    one_line_error(proc, says)


def test_long_path_components_are_one_line_errors(tmp_path: Path) -> None:
    long = tmp_path / ("x" * 300)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"data: {{train: {long}, split: null}}\n")
    for args in (
        ["validate", str(long)],
        ["report", str(long)],
        ["export", str(long), "--format", "yolo", "--out", str(tmp_path / "y")],
        ["train", str(recipe), "--out", str(tmp_path / "t")],
        ["render", str(DEMO), "--out", str(long), *FAKE],
    ):
        proc = cli(*args)
        assert proc.returncode in (1, 2) and "Traceback" not in proc.stderr, (args, proc.stderr)
        assert proc.stderr.count("\n") <= 2, proc.stderr  # validate: one problem line + summary


# --------------------------------------------------------------------------- limits of the machine


def test_too_many_people_are_refused_before_any_work(tmp_path: Path) -> None:
    t = time.perf_counter()
    proc = cli("render", str(PEOPLE), "--out", str(tmp_path / "o"), *FAKE, "--set",
               "scene.people.count=[100000,100000]")  # fmt: skip
    line = one_line_error(proc, "needs about", "GiB", "available")
    assert time.perf_counter() - t < 30, line
    assert not (tmp_path / "o").exists()
    # 500 people under a 2.5 GiB per-process limit: refused with the estimate
    proc = cli("render", str(PEOPLE), "--out", str(tmp_path / "o"), *FAKE, "--set",
               "scene.people.count=[500,500]", preexec_fn=_limit_data(2560))  # fmt: skip
    one_line_error(proc, "in one process", "ulimit")
    assert not (tmp_path / "o").exists()


def test_huge_resolution_is_refused_with_an_estimate(tmp_path: Path) -> None:
    proc = cli("render", str(DEMO), "--out", str(tmp_path / "o"), *FAKE, "--resolution",
               "16384x16384", "--workers", "2", preexec_fn=_limit_data(8192))  # fmt: skip
    one_line_error(proc, "rendering generic scenes at 16384x16384", "GiB")


def test_training_size_is_checked_before_training(tmp_path: Path) -> None:
    coco = write_coco(tmp_path / "ds", np.random.default_rng(0), n_images=2)
    t = time.perf_counter()
    proc = cli("train", str(TRAIN), "--out", str(tmp_path / "t"), "--set", f"data.train={coco}",
               "--set", "model.min_size=4096", "--set", "model.max_size=4096",
               preexec_fn=_limit_data(16384))  # fmt: skip
    one_line_error(proc, "training at 4096x4096 px", "needs about", "train.batch_size")
    assert time.perf_counter() - t < 60
    assert not (tmp_path / "t").exists()


def test_worker_counts_are_capped_with_a_note(tmp_path: Path) -> None:
    proc = cli("render", str(DEMO), "--out", str(tmp_path / "o"), "-n", "2", "--workers", "64",
               *TINY, *FAKE)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "--workers 64: only 2 item(s) to do; using 2" in proc.stderr
    ds = json.loads((tmp_path / "o" / "dataset.json").read_text())
    assert ds["workers"]["count"] <= min(2, machine.cpu_count())


def test_cap_workers() -> None:
    notes: list[str] = []
    assert machine.cap_workers(3, 10, "--workers", notes.append) == min(3, machine.cpu_count())
    assert machine.cap_workers(8, 1, "--workers", notes.append) == 1
    assert any("only 1 item(s)" in n for n in notes)


@pytest.mark.parametrize("value", ["abc", "-3", "0", "1.5"])
def test_synthcv_threads_is_checked(value: str, tmp_path: Path) -> None:
    proc = cli("render", str(DEMO), "--out", str(tmp_path / "o"), *TINY, *FAKE,
               env={"SYNTHCV_THREADS": value})  # fmt: skip
    one_line_error(proc, "SYNTHCV_THREADS=", "expected an integer >= 1")
    assert not (tmp_path / "o").exists()


def test_gpus_without_a_gpu_warns(tmp_path: Path) -> None:
    if machine.nvidia_gpus():
        assert machine.gpus_warning(["0"]) is None
        assert "do not exist" in str(machine.gpus_warning([str(machine.nvidia_gpus())]))
        return
    proc = cli("render", str(DEMO), "--out", str(tmp_path / "o"), "-n", "2", *TINY, *FAKE,
               "--gpus", "0,1")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "synthcv: warning: --gpus 0,1: no NVIDIA GPU on this machine" in proc.stderr
    assert machine.gpus_warning(["0"], found=2) is None
    assert "do not exist" in str(machine.gpus_warning(["0", "3"], found=2))


def test_ray_address_that_does_not_answer(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    out = tmp_path / "o"
    t = time.perf_counter()
    proc = cli("render", str(DEMO), "--out", str(out), *TINY, *FAKE, "--ray", "127.0.0.1:1")
    one_line_error(proc, "--ray 127.0.0.1:1", "cannot connect")
    assert time.perf_counter() - t < 60
    assert not out.exists()
    t = time.perf_counter()
    proc = cli("render", str(DEMO), "--out", str(out), *TINY, *FAKE, "--ray", "192.0.2.1:6379",
               "--ray-timeout", "2")  # fmt: skip
    assert proc.returncode == 2 and "--ray 192.0.2.1:6379" in proc.stderr, proc.stderr
    assert time.perf_counter() - t < 60
    assert not out.exists()


# --------------------------------------------------------------------------- former tracebacks


def test_report_draws_math_like_category_names(tmp_path: Path) -> None:
    ds = write_coco(tmp_path / "ds", np.random.default_rng(0), n_images=2)
    doc = json.loads((ds / "annotations.json").read_text())
    doc["categories"][0]["name"] = "$x^{$"
    (ds / "annotations.json").write_text(json.dumps(doc))
    assert cli("validate", str(ds)).returncode == 0
    proc = cli("report", str(ds), "--no-progress")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "$x^{$" in (ds / "report.html").read_text()


def test_learning_rate_out_of_range(tmp_path: Path) -> None:
    proc = cli("train", str(TRAIN), "--out", str(tmp_path / "t"), "--set", "train.lr=1e300")
    one_line_error(proc, "train.lr: must be <= 10")


def test_damaged_body_model_names_the_fix(tmp_path: Path) -> None:
    from render.families.pedestrians import body

    if not body.cache_ready():
        pytest.skip("no body model cache on this machine (make models)")
    cache = tmp_path / "cache"
    shutil.copytree(body.cache_dir(), cache / body.cache_dir().name)
    for f in (cache / body.cache_dir().name).rglob("*.safetensors"):
        f.write_bytes(os.urandom(f.stat().st_size))
    code = (
        "from render.families.pedestrians import body\n"
        "from render.errors import UserError\n"
        "try:\n    body.load_model()\nexcept UserError as e:\n    print('ERROR', e)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "SYNTHCV_CACHE_DIR": str(cache)}, timeout=120)  # fmt: skip
    assert proc.stdout.startswith("ERROR the anny body model cache at"), proc.stderr[-2000:]
    assert "damaged" in proc.stdout and "synthcv cache build --rebuild" in proc.stdout
    blocked = tmp_path / "a_file"
    blocked.write_text("")
    proc = cli("cache", "build", env={"SYNTHCV_CACHE_DIR": str(blocked / "cache")})
    one_line_error(proc, "cannot write the anny body model cache", "SYNTHCV_CACHE_DIR")


def test_body_cache_with_a_truncated_file_is_not_ready(tmp_path: Path) -> None:
    from render.families.pedestrians import body

    folder = tmp_path / "anny"
    (folder / "v1").mkdir(parents=True)
    (folder / "v1" / "m.safetensors").write_bytes(b"x" * 100)
    marker = {"files": ["v1/m.safetensors"], "sizes": {"v1/m.safetensors": 100}}
    (folder / body.MARKER).write_text(json.dumps(marker))
    assert body.cache_ready(folder)
    (folder / "v1" / "m.safetensors").write_bytes(b"x" * 50)
    assert not body.cache_ready(folder)


def test_out_of_memory_is_one_line() -> None:
    from render.training.loop import out_of_memory

    err = RuntimeError("[enforce fail at alloc_cpu.cpp:118] data. DefaultCPUAllocator: "
                       "can't allocate memory: you tried to allocate 68719476736 bytes.\nmore")  # fmt: skip
    mapped = out_of_memory(err, "lower it")
    assert isinstance(mapped, UserError) and "\n" not in str(mapped)
    assert str(mapped).startswith("out of memory (") and str(mapped).endswith("; lower it")
    other = RuntimeError("shape mismatch")
    assert out_of_memory(other, "x") is other
