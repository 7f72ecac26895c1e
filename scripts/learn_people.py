"""Experiment: people learned, under a shift, and fairly (issue 24).

    python scripts/learn_people.py --out runs/people [--setting draft_320]
        [--train-images 600] [--test-images 60] [--steps 2400] [--kp-steps 1500]
        [--parts box,balanced,keypoints] [--set k=v ...] [--train-set k=v ...]
        [--kp-set k=v ...] [--recipe configs/train/pedestrians_gpu.yaml]

Renders configs/pedestrians.yaml at one setting of scripts/bench_learn.py
(``--setting``) for training, restricted to what the model may see: dashcam and
CCTV rigs, by day and overcast (TRAIN). It holds a rig and a time of day out and
tests on three sets rendered at ``default`` quality, each with its own seed, at
the recipe's input size (320x240 for the CPU recipe, 640x480 for
``--recipe configs/train/pedestrians_gpu.yaml``): the recipe scales every image to
it, so a larger test image would cost more render for pixels the model never sees:

- ``indist``: the training conditions;
- ``drone``: the drone rig (held out), by day and overcast;
- ``dusk``: dashcam and CCTV at dusk (held out).

Parts (``--parts``):

- ``box``: a person detector (Faster R-CNN, MobileNetV3-Large-FPN, the pedestrians
  recipe's 320x240 input) on the natural population; box AP and AP50 on each
  set, recall by visibility, height and group (age, skin tone, sex);
- ``balanced``: the same detector on a population balanced over those groups
  (ages uniform over child/teen/adult/senior, skin uniform over the 10 Monk
  steps, half female; the same number of images); the largest recall gap between
  groups on ``indist``, against the natural mix's;
- ``keypoints``: Keypoint R-CNN (the recipe, with ``--kp-set`` overrides) on the
  natural population, started from the ``box`` detector (``synthcv train --init``:
  its backbone, RPN and box head already find people; the keypoint head starts
  fresh), so it runs after ``box``: keypoint AP (OKS) and per-joint PCK on each set.

Resumable like bench_learn.py: every stage records itself in OUT/state.json; an
interrupted render or training continues; one process per OUT. Prints one JSON
object with every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench_learn import CONFIG, RECIPE, ROOT, SETTINGS, State, _run, _sets, train_once

DAY = "scene.sky.time_of_day={day: 1.0, overcast: 0.4}"
TRAIN = ["scene.camera.rigs={dashcam: 1.0, cctv: 1.0}", DAY]
TESTS = {  # name: (seed, overrides)
    "indist": (9100, TRAIN),
    "drone": (9200, ["scene.camera.rigs={drone: 1.0}", DAY]),
    "dusk": (9300, [TRAIN[0], "scene.sky.time_of_day={dusk: 1.0}"]),
}


def scoring_quality(recipe: Path) -> list[str]:
    """Test sets: ``default`` quality at the recipe's input size (320x240 for the CPU
    recipe, 640x480 for the GPU one): the recipe scales every image to it."""
    from render.training.recipe import load_recipe

    model = load_recipe(recipe).model
    return ["render.quality=default", f"render.resolution=[{model.max_size}, {model.min_size}]"]


BALANCED = ["scene.people.age_groups={child: 1, teen: 1, adult: 1, senior: 1}",
            "scene.people.monk_steps={1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 1, 8: 1, 9: 1, 10: 1}",
            "scene.people.female_share=0.5"]  # fmt: skip
PARTS = ("box", "balanced", "keypoints")


def render(name: str, out: Path, n: int, seed: int, sets: list[str], state: State) -> Path:
    """Render ``n`` scenes into OUT/data/NAME (continues an interrupted one)."""
    rec = state.data.setdefault(f"render_{name}", {})
    data = out / "data" / name
    if rec.get("scenes") != n:
        wall, cpu = _run(["render", str(CONFIG), "--out", str(data), "-n", str(n),
                          "--seed", str(seed), "--no-progress", *_sets(sets),
                          *(["--resume"] if data.exists() else [])])  # fmt: skip
        rec.update(scenes=n, seed=seed, seconds=round(wall, 1), cpu_s=round(cpu, 1))
        state.save()
    return data


def train(name: str, data: Path, out: Path, steps: int, sets: list[str], state: State,
          init: Path | None = None) -> Path:  # fmt: skip
    """Train the recipe (``setup.recipe``) on ``data`` for about ``steps`` steps of
    4 images."""
    run = out / "runs" / name
    recipe = ROOT / state.data["setup"]["recipe"]
    train_once(f"train_{name}", data, run, steps, 4, sets, state, init, recipe)
    return run


def score(run: Path, test: str, out: Path, state: State) -> dict[str, Any]:
    """``synthcv evaluate`` of ``run`` on OUT/data/TEST: AP, recall tables, PCK."""
    key = f"eval_{run.name}_{test}"
    if key not in state.data:
        ev = run / f"eval-{test}"
        _run(["evaluate", str(run / "model.pt"), str(out / "data" / test), "--out", str(ev),
              "--no-progress"])  # fmt: skip
        doc = json.loads((ev / "metrics.json").read_text())
        rec: dict[str, Any] = {}
        for kind, r in doc["metrics"].items():
            rec[kind] = {"AP": round(r["stats"]["AP"], 4), "AP50": round(r["stats"]["AP50"], 4)}
        recall = doc.get("recall") or {}
        rec["recall"] = recall.get("all", {}).get("recall")
        rec["gaps"] = {k: v["gap"] for k, v in recall.items() if isinstance(v, dict) and "gap" in v}
        if pck := doc.get("pck"):  # all joints, and each joint's PCK@0.1/0.2
            rec["pck"] = {"all": pck["all"], **{j: [r["pck@0.1"], r["pck@0.2"]]
                                                for j, r in pck["joints"].items()}}  # fmt: skip
        state.data[key] = rec
        state.save()
    return state.data[key]  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--setting", default="draft_320", choices=sorted(SETTINGS))
    ap.add_argument("--train-images", type=int, default=600)
    ap.add_argument("--test-images", type=int, default=60)
    ap.add_argument("--steps", type=int, default=2400, help="person detector steps (4 images)")
    ap.add_argument("--kp-steps", type=int, default=1500, help="keypoint model steps")
    ap.add_argument("--parts", default=",".join(PARTS))
    ap.add_argument("--set", action="append", default=[], help="render override, every set")
    ap.add_argument("--train-set", action="append", default=[], help="recipe override, every run")
    ap.add_argument("--recipe", type=Path, default=RECIPE,
                    help="training recipe (default: configs/train/pedestrians_cpu.yaml; "
                         "with a GPU: configs/train/pedestrians_gpu.yaml)")  # fmt: skip
    ap.add_argument(
        "--kp-set",
        action="append",
        default=[],
        help="recipe override, the keypoint run only (e.g. model.keypoint_head_dim=128)",
    )
    args = ap.parse_args(argv)
    parts = args.parts.split(",")
    if bad := [p for p in parts if p not in PARTS]:
        sys.exit(f"--parts: unknown {bad}; valid: {', '.join(PARTS)}")
    recipe = args.recipe.resolve()
    if not recipe.is_file():
        sys.exit(f"--recipe {args.recipe}: no such file")
    state = State.locked(args.out, "learn_people.py")
    asked = {"setting": args.setting, "train_images": args.train_images,
             "test_images": args.test_images,
             "recipe": str(recipe.relative_to(ROOT) if recipe.is_relative_to(ROOT) else recipe)}  # fmt: skip
    fixed = state.data.setdefault("setup", dict(asked))
    fixed.setdefault("recipe", str(RECIPE.relative_to(ROOT)))  # runs from before --recipe
    if fixed != asked:
        sys.exit(f"{args.out} was started with {fixed}; rerun with those, or use another --out")
    state.save()
    quality = scoring_quality(ROOT / fixed["recipe"])
    tests = [render(t, args.out, args.test_images, seed, [*quality, *sets, *args.set], state)
             for t, (seed, sets) in TESTS.items()]  # fmt: skip
    setting = SETTINGS[args.setting]
    natural = render(
        "train_natural", args.out, args.train_images, 0, [*setting, *TRAIN, *args.set], state
    )
    result: dict[str, Any] = {"experiment": "learn_people", **fixed, "steps": args.steps,
                              "data": {k[7:]: v for k, v in state.data.items()
                                       if k.startswith("render_")}}  # fmt: skip
    box = ["model.arch=faster_rcnn", "data.workers=1", *args.train_set]
    if "box" in parts:
        run = train("box_natural", natural, args.out, args.steps, box, state)
        result["box_natural"] = {t.name: score(run, t.name, args.out, state) for t in tests}
    if "balanced" in parts:
        data = render("train_balanced", args.out, args.train_images, 0,
                      [*setting, *TRAIN, *BALANCED, *args.set], state)  # fmt: skip
        run = train("box_balanced", data, args.out, args.steps, box, state)
        result["box_balanced"] = {t.name: score(run, t.name, args.out, state) for t in tests}
    if "keypoints" in parts:
        box_model = args.out / "runs" / "box_natural" / "model.pt"
        if "train_box_natural" not in state.data or not box_model.exists():
            sys.exit(f"--parts keypoints starts from the box detector: run --parts box first "
                     f"({box_model} is missing)")  # fmt: skip
        kp = ["model.arch=keypoint_rcnn", "data.workers=1", *args.train_set, *args.kp_set]
        run = train("kp_natural", natural, args.out, args.kp_steps, kp, state, init=box_model)
        result["kp_natural"] = {t.name: score(run, t.name, args.out, state) for t in tests}
    result["runs"] = {k[6:]: v for k, v in state.data.items() if k.startswith("train_")}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
