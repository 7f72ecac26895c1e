"""Benchmark: person AP per render-hour, which images teach a detector most (issue 24).

Which images teach a person detector most for the CPU time spent rendering them?

    python scripts/bench_learn.py --out runs/learn [--budget-hours 1.0] [--steps 2000]
        [--seeds 0,1] [--test-images 60] [--settings default_640,draft_640,draft_320]
        [--set k=v ...]

For each setting (``--settings``; see SETTINGS) it renders configs/pedestrians.yaml
until ``--budget-hours`` render CPU-hours are spent (in chunks, ``synthcv render
--resume``; CPU time, user + system, of the render and its workers, so another
job on the machine does not shrink a setting's share; wall hours are reported
too), so cheaper settings get proportionally more images. After the first chunk
each call renders about 10 CPU-minutes of scenes, so the start-up each call pays
(Blender, the body model) stays a small share for cheap settings too. It trains the same
person detector (Faster R-CNN, MobileNetV3-Large-FPN, the pedestrians recipe's
model at 320x240 input) on each for about ``--steps`` steps (whole epochs: the
steps actually taken are reported), once per seed of ``--seeds``, and scores each on
one held-out set of ``--test-images`` images rendered at ``final`` quality
(another seed). Reports per setting: images rendered, render hours, train seconds,
box AP and AP50 per seed, their mean and spread.

Order: every setting's images, then the first seed's training across the settings,
then the next seed's, so a run cut short still compares every setting.

Resumable: every stage records itself in OUT/state.json and is skipped when done;
an interrupted render or training continues (``--resume``); one process per OUT
(a lock). ``train_s`` is the last training session's wall time. Prints one JSON
object.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import math
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "pedestrians.yaml"
RECIPE = ROOT / "configs" / "train" / "pedestrians_cpu.yaml"
SETTINGS = {
    "default_640": ["render.quality=default", "render.resolution=[640, 480]"],
    "draft_640": ["render.quality=draft", "render.resolution=[640, 480]"],
    "draft_320": ["render.quality=draft", "render.resolution=[320, 240]"],
    "final_640": ["render.quality=final", "render.resolution=[640, 480]"],
}
TEST_SEED = 9000


def _cpu() -> float:
    """CPU seconds (user + system) of every finished child process and theirs."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _run(args: list[str]) -> tuple[float, float]:
    """Run ``synthcv ARGS``; returns (wall seconds, CPU seconds of it and its workers);
    exits with its message on failure."""
    t0, c0 = time.perf_counter(), _cpu()
    proc = subprocess.run([sys.executable, "-m", "render.cli", *args], cwd=ROOT,
                          capture_output=True, text=True)  # fmt: skip
    if proc.returncode != 0:
        sys.exit(f"synthcv {' '.join(args[:3])} ...: {proc.stderr.strip().splitlines()[-1:]}")
    return time.perf_counter() - t0, _cpu() - c0


def _sets(extra: list[str]) -> list[str]:
    return [a for kv in extra for a in ("--set", kv)]


class State:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        self.lock: Any = None

    @classmethod
    def locked(cls, out: Path, script: str) -> State:
        """OUT/state.json, OUT locked for this process (one run per OUT)."""
        out.mkdir(parents=True, exist_ok=True)
        lock = (out / ".lock").open("w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            sys.exit(f"{out}: another {script} is running on it")
        state = cls(out / "state.json")
        state.lock = lock  # held while the state lives
        return state

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2))
        tmp.replace(self.path)


def render_budget(name: str, out: Path, budget_s: float, chunk: int, extra: list[str],
                  state: State) -> dict[str, Any]:  # fmt: skip
    """Render setting ``name`` in chunks until ``budget_s`` CPU seconds are spent."""
    rec = state.data.setdefault(f"render_{name}", {"scenes": 0, "seconds": 0.0, "done": False})
    rec.setdefault("cpu_s", 0.0)
    while not rec["done"]:
        step = chunk
        if rec["scenes"]:  # ~10 CPU-minutes a call: start-up (Blender, the body model) stays small
            per_scene = rec["cpu_s"] / rec["scenes"]
            left = budget_s - rec["cpu_s"]
            step = max(chunk, min(int(600 / per_scene), math.ceil(left / per_scene)))
        n = rec["scenes"] + step
        args = ["render", str(CONFIG), "--out", str(out / "data" / name), "-n", str(n),
                "--no-progress", *_sets([*SETTINGS[name], *extra])]  # fmt: skip
        if (out / "data" / name).exists():
            args.append("--resume")
        wall, cpu = _run(args)
        rec["seconds"] += wall
        rec["cpu_s"] += cpu
        rec["scenes"] = n
        rec["done"] = rec["cpu_s"] >= budget_s
        state.save()
    return rec


def _epochs(images: int, steps: int, batch: int) -> int:
    return max(1, math.ceil(steps / max(1, math.ceil(images / batch))))


def run_train(recipe: Path, run: Path, sets: list[str], init: Path | None) -> dict[str, Any]:
    """``synthcv train RECIPE --out RUN`` with the overrides ``sets``: continued
    (``--resume``) where RUN has a checkpoint, else from ``init``'s weights when
    given; a RUN stopped before its first checkpoint has nothing to continue and
    starts again (``--overwrite`` removes only what ``synthcv train`` wrote);
    returns RUN/train.json (``wall_s``: its last session)."""
    args = ["train", str(recipe), "--out", str(run), "--no-progress", *_sets(sets)]
    if (run / "checkpoints" / "last.pt").exists():  # the same recipe, continued
        args.append("--resume")
    else:
        if run.is_dir() and any(run.iterdir()):
            args.append("--overwrite")
        if init is not None:
            args += ["--init", str(init)]
    _run(args)
    return json.loads((run / "train.json").read_text())  # type: ignore[no-any-return]


def train_once(key: str, data: Path, run: Path, steps: int, batch: int, sets: list[str],
               state: State, init: Path | None = None,
               recipe: Path = RECIPE) -> dict[str, Any]:  # fmt: skip
    """Train the recipe on ``data`` into ``run`` for about ``steps`` steps (whole
    epochs) with the overrides ``sets``, once: recorded in ``state[key]``; an
    interrupted training continues (``--resume``); another ``steps`` is refused.
    ``init``: start from that checkpoint's weights (``synthcv train --init``);
    ``recipe``: the training recipe (the pedestrians CPU recipe by default)."""
    rec: dict[str, Any] = state.data.setdefault(key, {"steps_asked": steps})
    if rec.get("steps_asked", steps) != steps:
        sys.exit(f"{run.parent.parent}: {key} was trained for --steps {rec['steps_asked']}, "
                 f"not {steps}; rerun with that, or use another --out")  # fmt: skip
    if "train_s" not in rec:
        images = len(json.loads((data / "annotations.json").read_text())["images"])
        epochs = _epochs(images, steps, batch)
        record = run_train(recipe, run, [f"data.train={data}", "data.split=null",
                                         f"train.epochs={epochs}", f"train.batch_size={batch}",
                                         *sets], init)  # fmt: skip
        rec.update(images=images, epochs=epochs, steps=record["steps"],
                   train_s=round(float(record["wall_s"]), 1))  # fmt: skip
        if init is not None:
            rec["init"] = str(init)
        state.save()
    return rec


def train_and_score(name: str, seed: int, out: Path, steps: int, batch: int, extra: list[str],
                    state: State) -> dict[str, Any]:  # fmt: skip
    run = out / "runs" / f"{name}_seed{seed}"
    rec = train_once(f"train_{name}_seed{seed}", out / "data" / name, run, steps, batch,
                     ["model.arch=faster_rcnn", f"train.seed={seed}", f"augment.seed={seed}",
                      "data.workers=1", *extra], state)  # fmt: skip
    if "AP50" not in rec:
        ev = run / "eval-test"
        _run(["evaluate", str(run / "model.pt"), str(out / "data" / "test"), "--out", str(ev),
              "--no-progress"])  # fmt: skip
        stats = json.loads((ev / "metrics.json").read_text())["metrics"]["bbox"]["stats"]
        rec["AP"], rec["AP50"] = round(stats["AP"], 4), round(stats["AP50"], 4)
        state.save()
    return rec


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--budget-hours", type=float, default=1.0)
    ap.add_argument("--chunk", type=int, default=4, help="scenes in the first render call")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--test-images", type=int, default=60)
    ap.add_argument("--settings", default="default_640,draft_640,draft_320")
    ap.add_argument("--set", action="append", default=[], help="render override, all settings")
    ap.add_argument("--train-set", action="append", default=[], help="recipe override")
    args = ap.parse_args(argv)
    names = args.settings.split(",")
    unknown = [n for n in names if n not in SETTINGS]
    if unknown:
        sys.exit(f"--settings: unknown {unknown}; valid: {', '.join(SETTINGS)}")
    state = State.locked(args.out, "bench_learn.py")
    test = state.data.setdefault("render_test", {})
    if "seconds" not in test:
        test_dir = args.out / "data" / "test"
        wall, cpu = _run(
            ["render", str(CONFIG), "--out", str(test_dir), "-n", str(args.test_images),
             "--seed", str(TEST_SEED), "--no-progress",
             *_sets([*SETTINGS["final_640"], *args.set]),
             *(["--resume"] if test_dir.exists() else [])])  # fmt: skip
        test.update(seconds=round(wall, 1), cpu_s=round(cpu, 1))  # the last session's
        state.save()
    result: dict[str, Any] = {
        "benchmark": "learn",
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },  # fmt: skip
        "budget_render_hours": args.budget_hours,
        "steps": args.steps,
        "test": {
            "images": args.test_images,
            "seed": TEST_SEED,
            "quality": "final",
            "render_s": test["seconds"],
            "render_cpu_s": test.get("cpu_s"),
        },  # fmt: skip
        "settings": {},
    }
    seeds = [int(s) for s in args.seeds.split(",")]
    # every setting's images first, then one seed across the settings, then the next:
    # a run cut short still compares all the settings on its first seed
    recs = {n: render_budget(n, args.out, args.budget_hours * 3600, args.chunk, args.set, state)
            for n in names}  # fmt: skip
    runs_of: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for s in seeds:
        for name in names:
            runs_of[name].append(train_and_score(name, s, args.out, args.steps, args.batch,
                                                 args.train_set, state))  # fmt: skip
    for name in names:
        rec, runs = recs[name], runs_of[name]
        ap50 = [r["AP50"] for r in runs]
        result["settings"][name] = {
            "scenes": rec["scenes"],
            "render_hours": round(rec["seconds"] / 3600, 3),
            "render_cpu_hours": round(rec["cpu_s"] / 3600, 3),
            "runs": runs,
            "AP50_mean": round(statistics.mean(ap50), 4),
            "AP50_spread": round(max(ap50) - min(ap50), 4),
        }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
