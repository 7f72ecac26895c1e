"""synthcv CLI: error handling in subprocesses (exit 2, one stderr line, no
traceback, --out untouched) and the commands in-process with the fake renderer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from render.cli import main

ROOT = Path(__file__).resolve().parents[1]
DEMO = str(ROOT / "configs" / "demo.yaml")
FAKE = "tests.fake_renderer"


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if args and args[0] in ("render", "replay"):
        args = (*args, "--renderer", FAKE)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "render.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert lines[0].startswith("synthcv: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["frob"], ["invalid choice: 'frob'"]),
        (["reder"], ["invalid choice: 'reder'", "(did you mean render?)"]),
        (["render", DEMO, "--out", "{out}", "--num_scenes", "3"], ["(did you mean --num-scenes?)"]),
        (["validate", "{out}", "--max_problem", "3"], ["(did you mean --max-problems?)"]),
        (
            ["export", "{out}", "--fromat", "yolo", "--out", "y"],
            ["required: --format", "unrecognized --fromat (did you mean --format?)"],
        ),
        (["preview", DEMO, "--out", "{out}"], ["the preview is a PNG"]),
        (["preview", DEMO, "--out", "{out}.png", "-n", "0"], ["-n 0: expected 1..64"]),
        (["render"], ["render: the following arguments are required: CONFIG, --out"]),
        (["render", "missing.yaml", "--out", "{out}"], ["missing.yaml: config file not found"]),
        (["render", DEMO, "--out", "{out}", "--resolution", "64"], ["--resolution", "'64'"]),
        (["render", DEMO, "--out", "{out}", "--resolution", "64x"], ["WIDTHxHEIGHT"]),
        (["render", DEMO, "--out", "{out}", "-n", "-3"], ["num_scenes: must be >= 1, got -3"]),
        (["render", DEMO, "--out", "{out}", "-n", "x"], ["argument -n/--num-scenes"]),
        (["render", DEMO, "--out", "{out}", "--samples", "0"], ["render.samples: must be >= 1"]),
        (["render", DEMO, "--out", "{out}", "--resolution", "4x4"], ["render.resolution"]),
        (["render", DEMO, "--out", "{out}", "--workers", "0"], ["--workers", "integer >= 1"]),
        (["render", DEMO, "--out", "{out}", "--device", "tpu"], ["--device", "'tpu'"]),
        (
            ["render", DEMO, "--out", "{out}", "--set", "render.samplez=3"],
            ["did you mean: samples"],
        ),
        (["render", DEMO, "--out", "{out}", "--set", "oops"], ["expected key.path=value"]),
        (["render", DEMO, "--out", "{out}", "--resume", "--overwrite"], ["not allowed with"]),
        (["report", "{out}"], ["not a dataset folder"]),
        (["replay", "{out}/scenes/000000.json", "--out", "{out}2"], ["scene file not found"]),
    ],
)
def test_errors_exit_2_one_line(tmp_path: Path, args: list[str], needles: list[str]) -> None:
    out = tmp_path / "out"
    proc = run_cli(*(a.replace("{out}", str(out)) for a in args))
    assert_one_line_error(proc, *needles)
    assert not out.exists() and not Path(f"{out}2").exists()


def test_non_empty_out_is_refused_and_untouched(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    proc = run_cli("render", DEMO, "--out", str(out))
    assert_one_line_error(proc, "not empty", "--resume", "--overwrite")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_bare_synthcv_prints_usage_and_a_hint() -> None:
    proc = run_cli()
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("usage: synthcv") and "'synthcv COMMAND --help'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_version() -> None:
    proc = run_cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.startswith("synthcv 0.1.0 (bpy 4.2.") and "blenderproc 2.8.0" in proc.stdout


def test_a_closed_pipe_exits_quietly() -> None:
    """``synthcv schema | head -1``: no BrokenPipeError traceback, exit 141 like a C tool.
    The pipe is shrunk to one page first so the reader closes it long before the
    schema is written, whatever its size."""
    import fcntl

    read_fd, write_fd = os.pipe()
    fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, 4096)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "render.cli", "schema"],
        stdout=write_fd, stderr=subprocess.PIPE, cwd=ROOT, env=env,
    )  # fmt: skip
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as reader:
        assert reader.readline().strip() == b"{"
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and err == ""


def test_help_lists_commands() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0
    for cmd in ("render", "validate", "augment", "replay", "report", "export", "preview",
                "doctor", "cache", "schema"):  # fmt: skip
        assert cmd in proc.stdout
    proc = run_cli("render", "--help")
    assert proc.returncode == 0 and "--resume" in proc.stdout and "--set KEY=VALUE" in proc.stdout
    proc = run_cli("augment", "--help")
    assert proc.returncode == 0 and "augment" in proc.stdout


def test_schema_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "scene" in schema["properties"] and "$defs" in schema


def test_render_validate_report_replay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ds"
    rc = main(
        [
            "render",
            DEMO,
            "--out",
            str(out),
            "-n",
            "2",
            "--resolution",
            "64x48",
            "--seed",
            "5",
            "--samples",
            "4",
            "--set",
            "annotation.min_pixels=1",
            "--no-progress",
            "--renderer",
            FAKE,
        ]
    )
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "4 images" in captured.out and "per category" in captured.out
    ds = json.loads((out / "dataset.json").read_text())
    assert ds["config"]["render"]["resolution"] == [64, 48]
    assert ds["config"]["render"]["samples"] == 4 and ds["seed"] == 5 and ds["scenes"] == 2

    assert main(["validate", str(out)]) == 0
    assert "valid (4 images" in capsys.readouterr().out

    assert main(["report", str(out), "--no-progress"]) == 0
    report = capsys.readouterr().out
    assert report.startswith(f"report: wrote {out / 'report.html'}") and "4 images" in report

    # replay reproduces scene 1's annotations exactly
    replay_out = tmp_path / "replay"
    replay = ["replay", str(out / "scenes" / "000001.json"), "--out", str(replay_out)]
    assert main([*replay, "--renderer", FAKE]) == 0
    assert "identical" in capsys.readouterr().out
    new = json.loads((replay_out / "shards" / "000001.json").read_text())
    old = json.loads((out / "shards" / "000001.json").read_text())
    assert new["annotations"] == old["annotations"]
    assert (replay_out / "scenes" / "000001.json").read_bytes() == (
        out / "scenes" / "000001.json"
    ).read_bytes()

    # a changed original is reported (exit 1), and replay refuses a non-empty --out
    old["annotations"] = old["annotations"][1:]
    (out / "shards" / "000001.json").write_text(json.dumps(old))
    args = [*replay, "--renderer", FAKE]
    assert main(args) == 2
    assert "not empty" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 1
    assert "DIFFER" in capsys.readouterr().out

    # resume with nothing left to do
    assert main(["render", DEMO, "--out", str(out), "-n", "2", "--resume", "--no-progress",
                 "--resolution", "64x48", "--seed", "5", "--samples", "4",
                 "--set", "annotation.min_pixels=1", "--renderer", FAKE]) == 0  # fmt: skip
    assert "skipped 2" in capsys.readouterr().out


def test_replay_needs_dataset_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scene = tmp_path / "scenes" / "000000.json"
    scene.parent.mkdir()
    scene.write_text("{}")
    assert main(["replay", str(scene), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "not a SceneSpec" in err and err.count("\n") == 1
    from render.config import load_config
    from render.sampling import sample_scene

    scene.write_text(sample_scene(load_config(DEMO), 0).model_dump_json())
    assert main(["replay", str(scene), "--out", str(tmp_path / "o")]) == 2
    assert "no dataset.json" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
