"""Experiment: defects a model learns at inspection resolution (issue 22).

    python scripts/learn_defects.py --out runs/defects [--parts base,aug,optics,balance,nuisances]
        [--epochs 20] [--aug-epochs 10] [--aug-pipeline YAML] [--train-set k=v ...] [--scale 1.0]
        [--focus products|defects] [--product-squares 1] [--train-scale 1.0] [--render-only]
        [--render-workers 1]

Renders configs/defects_tiles.yaml with a 5 MP station (2448x2048 at 3.45 um) whose
optics resolve 0.15 mm with ``px_per_defect`` pixels (3 unless an arm says
otherwise), tile by tile, at ``draft`` quality (docs/training.md 6 has the sets'
ranges), trains configs/train/defects_tiles_cpu.yaml on 512 px crops of the tiles
and scores each model on whole tiles (``synthcv evaluate --native``): AP50 per
defect type, escape rate at 5 % false reject, ROC AUC, false defects on nuisances
per 100 products.

Sets (seed, scenes): ``train`` (0, 68) and ``train2`` (2000, 25, dense: 2-4
defects per product) in the training ranges; ``indist`` (500, 10) in them too;
``shift`` (1000, 25): lights, light power, camera angles, backgrounds and
materials outside them; ``check`` (4000, 50, dense, in the training ranges):
held-out squares around defects as the training sets have them (with
``--focus products``: squares too, one product square each), cheap to render
and rich in every type (~30 chips where ``shift`` has 3), so the arms' AP50 can
be compared where the shift leaves every arm near 0; ``shift_check`` (6000, 50,
dense, the shift's ranges): the same squares under the shift, where ``shift``'s
38 defects leave AP50's 95 % interval 0.3 wide (``evaluate --bootstrap``). ``--scale`` multiplies
every scene count (a quick look: ``--scale 0.2``), ``--train-scale`` the
training sets' only. ``--focus defects``
renders the training sets as squares around the defects (``tiles.focus``: a
fraction of the pixels per defect), with ``--product-squares`` squares at random
places on every product besides (``tiles.product_squares``: holes, edges and
prints as hard negatives); ``shift`` and ``indist`` always cover whole products
(the product-level metrics need them), ``check`` and ``shift_check`` are squares. An OUT keeps the scales, focus, squares and
overrides it was started with, and the recipe's ``model.norm`` and
``model.fine_stride`` of that day (OUTs from before the recipe set them: BatchNorm
and 32), passed to every run, so its figures never mix.

Parts (``--parts``), the experiments of issue 22:

- ``base`` (1): the recipe from random weights on ``train`` + ``train2`` with the
  augmentation off (``--epochs``);
- ``aug`` (1): ``base`` continued with the recipe's ``qc`` augmentation
  (``--aug-epochs``), toward the shift; with ``--aug-pipeline YAML`` another
  augmentation (e.g. configs/augment/inspection.yaml), as run ``aug_<YAML's name>``;
- ``optics`` (2): ``base`` again on sets rendered at 1, 2 and 4 px per smallest
  defect width (``train``, ``train2``, ``shift`` and ``check`` each; 3 px is ``base``;
  ``--optics-px 1`` runs only that arm, ``--optics-px 1,3`` adds 3 px as an arm with
  sets of its own, so that every arm of an OUT comes from one commit);
- ``balance`` (3): a long-tailed defect mix (scratch 0.4, stain 0.3, dent 0.15,
  crack 0.1, chip 0.05) against a balanced one (0.2 each), the same scenes, two
  training seeds each: the rarest type's (chip's) AP50 on ``shift`` and ``check``,
  mean and spread;
- ``nuisances`` (4): ``base`` on sets rendered without nuisances (every
  nuisance's probability 0): false defects on nuisances against ``base``'s.

Every stage records itself in OUT/state.json; an interrupted render or training
continues (``--resume``), so the experiment runs across sessions; one process per
OUT. ``--render-only`` renders every set the parts need and trains nothing (render
beside another job, train later). Prints one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from bench_learn import ROOT, State, _run, _sets, run_train

from render.training.recipe import load_recipe

CONFIG = ROOT / "configs" / "defects_tiles.yaml"
RECIPE = ROOT / "configs" / "train" / "defects_tiles_cpu.yaml"
DEFECTS = ("scratch", "dent", "crack", "stain", "chip")
COMMON = ["scene.camera.optics.sensor=5mp", "scene.camera.optics.resolve_mm=0.15",
          "render.quality=draft", "scene.products_per_image=[1,2]",
          "scene.defects.scratch.width_mm=[0.15,0.4]", "scene.defects.crack.width_mm=[0.15,0.4]",
          "scene.camera.tiles.background_share=0.25"]  # fmt: skip
TRAIN = ["scene.lighting.presets={ring: 1.0, dome: 1.0}",
         "scene.camera.oblique_elevation_deg=[55,70]",
         "scene.background.kinds={conveyor: 1.0, table: 1.0}",
         "scene.products.0.materials=[brushed_aluminium, machined_steel, anodized_blue]",
         "scene.products.2.materials=[brushed_aluminium]",
         "scene.products.3.materials=[machined_steel]",
         "scene.products.4.materials=[machined_steel]"]  # fmt: skip
SHIFT = ["scene.lighting.presets={raking: 1.0, ring: 0.5, back: 0.3}",
         "scene.lighting.ring_power_w=[0.2,0.35]", "scene.camera.oblique_elevation_deg=[40,55]",
         "scene.camera.views={top_down: 0.5, oblique: 1.0}",
         "scene.background.kinds={tray: 1.0, table: 0.5}",
         "scene.products.0.materials=[anodized_black, painted_steel]",
         "scene.products.2.materials=[painted_steel]",
         "scene.products.3.materials=[brushed_aluminium]",
         "scene.products.4.materials=[anodized_black]"]  # fmt: skip
DENSE = ["scene.defects_per_product=[2,4]", "scene.good_fraction=0.05"]
SETS = {  # name: (seed, scenes, overrides)
    "train": (0, 68, TRAIN),
    "train2": (2000, 25, [*TRAIN, *DENSE]),
    "indist": (500, 10, TRAIN),
    "shift": (1000, 25, SHIFT),
    "check": (4000, 50, [*TRAIN, *DENSE]),  # held-out squares, scored for every arm
    "shift_check": (6000, 50, [*SHIFT, *DENSE]),  # squares under the shift, every arm
}
TRAINING = ("train", "train2")  # the sets a --focus applies to
CHECK = "check"
SHIFT_CHECK = "shift_check"
SQUARES = (CHECK, SHIFT_CHECK)  # test sets of squares (check_focus)
LONG_TAIL = {"scratch": 0.4, "stain": 0.3, "dent": 0.15, "crack": 0.1, "chip": 0.05}
NUISANCES = ("dust", "fibre", "fingerprint", "droplet", "print", "glint", "tool_mark", "logo")
PARTS = ("base", "aug", "optics", "balance", "nuisances")
OPTICS_PX = (1, 2, 4)
BOOTSTRAP = 1000  # draws of a test set's scenes for AP50's 95 % intervals
BALANCE_SEEDS = (0, 1)


def recipe_model() -> list[str]:
    """The recipe's model keys that changed over the study, as overrides."""
    model = load_recipe(RECIPE).model
    return [f"model.norm={model.norm}", f"model.fine_stride={model.fine_stride}"]


def frequencies(mix: dict[str, float]) -> list[str]:
    return [f"scene.defects.{k}.frequency={v}" for k, v in mix.items()]


def render(name: str, out: Path, seed: int, n: int, sets: list[str], state: State,
           workers: int = 1) -> Path:  # fmt: skip
    """Render ``n`` scenes into OUT/data/NAME (continues an interrupted one) with
    ``workers`` render processes (the same images whatever their number)."""
    rec = state.data.setdefault(f"render_{name}", {})
    data = out / "data" / name
    if rec.get("scenes") != n:
        wall, cpu = _run(["render", str(CONFIG), "--out", str(data), "-n", str(n),
                          "--seed", str(seed), "--no-progress", "--workers", str(workers),
                          *_sets([*COMMON, *sets]),
                          *(["--resume"] if data.exists() else [])])  # fmt: skip
        doc = json.loads((data / "annotations.json").read_text())
        cats = {c["id"]: c["name"] for c in doc["categories"]}
        counts = {d: 0 for d in DEFECTS}
        for a in doc["annotations"]:
            if cats.get(a["category_id"]) in counts:
                counts[cats[a["category_id"]]] += 1
        rec.update(scenes=n, seed=seed, tiles=len(doc["images"]), defects=counts,
                   seconds=round(wall, 1), cpu_s=round(cpu, 1))  # fmt: skip
        state.save()
    return data


def train(name: str, data: list[Path], out: Path, epochs: int, sets: list[str], state: State,
          init: Path | None = None) -> Path:  # fmt: skip
    """Train the recipe on ``data`` into OUT/runs/NAME for ``epochs`` epochs of crops,
    once (``state["train_NAME"]``); an interrupted training continues."""
    run = out / "runs" / name
    rec: dict[str, Any] = state.data.setdefault(f"train_{name}", {"epochs": epochs})
    if rec["epochs"] != epochs:
        sys.exit(f"{out}: {name} was trained for {rec['epochs']} epochs, not {epochs}; "
                 "rerun with that, or use another --out")  # fmt: skip
    if "train_s" not in rec:
        train_list = "[" + ", ".join(str(d) for d in data) + "]"
        record = run_train(RECIPE, run, [f"data.train={train_list}", "data.split=null",
                                         f"train.epochs={epochs}", "train.warmup_steps=50",
                                         "data.workers=1", *sets], init)  # fmt: skip
        rec.update(steps=record["steps"], train_s=round(float(record["wall_s"]), 1),
                   overrides=sets, init=str(init) if init else None)  # fmt: skip
        state.save()
    return run


def score(run: Path, test: Path, state: State) -> dict[str, Any]:
    """``synthcv evaluate --native`` of ``run`` on ``test``: AP50 overall and per
    defect type, the QC figures, false defects on nuisances."""
    key = f"eval_{run.name}_{test.name}"
    if key not in state.data:
        ev = run / f"eval-{test.name}"
        _run(["evaluate", str(run / "model.pt"), str(test), "--native", "--out", str(ev),
              "--workers", "1", "--bootstrap", str(BOOTSTRAP), "--no-progress"])  # fmt: skip
        doc = json.loads((ev / "metrics.json").read_text())
        bbox = doc["metrics"]["bbox"]
        qc = doc.get("qc", {})
        overall = qc.get("overall", {})
        state.data[key] = {
            "AP50": round(bbox["stats"]["AP50"], 4),
            "AP50_per_type": {k: round(v["AP50"], 4) for k, v in bbox["per_class"].items()},
            "AP50_ci": bbox["stats"].get("AP50_ci"),  # 95 % over the test set's scenes
            "AP50_ci_per_type": {k: v.get("AP50_ci") for k, v in bbox["per_class"].items()},
            "escape_at_frr_0.05": overall.get("escape_at_frr_0.05"),
            "roc_auc": overall.get("roc_auc"),
            "nuisance_fp_per_100": qc.get("nuisance_fp_per_100_products_at_frr_0.05"),
            "other_fp_per_100": qc.get("other_fp_per_100_products_at_frr_0.05"),
            "nuisance_fp_per_100_at_score_0.5": qc.get("nuisance_fp_per_100_products_at_score_0.5"),
            "other_fp_per_100_at_score_0.5": qc.get("other_fp_per_100_products_at_score_0.5"),
        }
        state.save()
    return state.data[key]  # type: ignore[no-any-return]


def arm(tag: str, out: Path, scale: float, extra: list[str], epochs: int, sets: list[str],
        state: State, tests: tuple[str, ...] = ("shift", *SQUARES), seeds: tuple[int, ...] = (0,),
        own_tests: bool = False, focus: list[str] | None = None,
        train_scale: float = 1.0, render_only: bool = False,
        render_workers: int = 1) -> dict[str, Any]:  # fmt: skip
    """Render ``train`` and ``train2`` (``train_scale`` times their scenes) with
    ``extra`` render overrides and ``focus`` (their tiles' overrides; test sets
    cover whole products, ``check`` and ``shift_check`` are squares: :func:`check_focus`) as
    OUT/data/NAME_TAG, train on them from random weights (one run per training seed)
    and score every run on each of ``tests``: the shared sets, or with
    ``own_tests`` sets rendered with ``extra`` too (another camera needs its own).
    ``render_only``: the sets, no training; ``render_workers``: render processes."""
    focus = focus or []
    tiles = {**dict.fromkeys(TRAINING, focus), **dict.fromkeys(SQUARES, check_focus(focus))}
    data = {n: render(f"{n}_{tag}" if tag else n, out, SETS[n][0],
                      count(SETS[n][1], scale * (train_scale if n in TRAINING else 1)),
                      [*SETS[n][2], *extra, *tiles.get(n, [])], state, render_workers)
            for n in (*TRAINING, *(tests if own_tests else ()))}  # fmt: skip
    for t in tests:
        if t not in data:  # the shared set
            data[t] = render(t, out, SETS[t][0], count(SETS[t][1], scale),
                             [*SETS[t][2], *tiles.get(t, [])], state, render_workers)  # fmt: skip
    result: dict[str, Any] = {}
    for seed in seeds if not render_only else ():
        name = "_".join(p for p in (tag or "base", f"seed{seed}" if len(seeds) > 1 else "") if p)
        run = train(name, [data["train"], data["train2"]], out, epochs,
                    ["augment.pipeline=null", f"train.seed={seed}", *sets], state)  # fmt: skip
        result[name] = {t: score(run, data[t], state) for t in tests}
    return result


def check_focus(focus: list[str]) -> list[str]:
    """The ``check`` set's tiles: the training sets' squares, or with ``--focus
    products`` squares with one product square each."""
    if "scene.camera.tiles.focus=defects" in focus:
        return focus
    return ["scene.camera.tiles.focus=defects", "scene.camera.tiles.product_squares=1"]


def count(n: int, scale: float) -> int:
    return max(1, round(n * scale))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--parts", default="base,aug")
    ap.add_argument("--epochs", type=int, default=20, help="epochs of crops, every arm")
    ap.add_argument("--aug-epochs", type=int, default=10, help="epochs of the aug part")
    ap.add_argument(
        "--aug-pipeline",
        type=Path,
        help="the aug part's augmentation (default: the recipe's); run aug_<its name>",
    )
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies every set's scenes")
    ap.add_argument("--train-set", action="append", default=[], help="recipe override, every run")
    ap.add_argument(
        "--focus",
        choices=("products", "defects"),
        default="products",
        help="the training sets' tiles: whole products, or squares around defects",
    )
    ap.add_argument(
        "--product-squares",
        type=int,
        default=1,
        help="with --focus defects: squares at random places on every product (0-16)",
    )
    ap.add_argument(
        "--train-scale",
        type=float,
        default=1.0,
        help="multiplies the training sets' scenes (after --scale)",
    )
    ap.add_argument(
        "--optics-px",
        default=",".join(map(str, OPTICS_PX)),
        help="the optics part's arms: px per smallest defect width, comma-separated "
        "(default %(default)s)",
    )
    ap.add_argument(
        "--render-workers",
        type=int,
        default=1,
        help="render processes per set (synthcv render --workers; a render uses about "
        "one core: 2 on 2 cores rendered a set 1.6x as fast; the images do not change)",
    )
    ap.add_argument(
        "--render-only",
        action="store_true",
        help="render every set the parts need, train nothing",
    )
    args = ap.parse_args(argv)
    parts = args.parts.split(",")
    if bad := [p for p in parts if p not in PARTS]:
        sys.exit(f"--parts: unknown {bad}; valid: {', '.join(PARTS)}")
    if args.epochs < 1 or args.aug_epochs < 1 or not 0 < args.scale <= 10:
        sys.exit("--epochs and --aug-epochs must be >= 1, --scale in (0, 10]")
    if args.aug_pipeline is not None and not args.aug_pipeline.is_file():
        sys.exit(f"--aug-pipeline {args.aug_pipeline}: no such file")
    if not 0 < args.train_scale <= 100:
        sys.exit("--train-scale must be in (0, 100]")
    if not 0 <= args.product_squares <= 16:
        sys.exit("--product-squares must be in [0, 16]")
    try:
        optics_px = [int(p) for p in args.optics_px.split(",")]
    except ValueError:
        optics_px = []
    if not optics_px or not all(1 <= p <= 16 for p in optics_px):
        sys.exit(f"--optics-px {args.optics_px}: want px per defect width in [1, 16], e.g. 1,2,4")
    if args.render_workers < 1:
        sys.exit(f"--render-workers {args.render_workers}: want at least 1")
    squares = args.product_squares if args.focus == "defects" else 0
    state = State.locked(args.out, "learn_defects.py")
    setup = {"scale": args.scale, "train_set": args.train_set, "focus": args.focus,
             "train_scale": args.train_scale, "product_squares": squares}  # fmt: skip
    fixed = state.data.setdefault("setup", {**setup, "recipe": recipe_model()})
    fixed.setdefault("focus", "products")  # OUTs started before --focus, --train-scale,
    fixed.setdefault("train_scale", 1.0)  # --product-squares and the recipe's keys
    fixed.setdefault("product_squares", 0)
    fixed.setdefault("recipe", ["model.norm=batch", "model.fine_stride=32"])
    if {k: v for k, v in fixed.items() if k != "recipe"} != setup:
        sys.exit(f"{args.out} was started with {fixed}; rerun with those, or use another --out")
    state.save()
    out, scale, epochs = args.out, args.scale, args.epochs
    ts = [*fixed["recipe"], *args.train_set]
    focus = [f"scene.camera.tiles.focus={args.focus}"]
    if args.focus == "defects":
        focus.append(f"scene.camera.tiles.product_squares={squares}")
    fx: dict[str, Any] = {"focus": focus, "train_scale": args.train_scale,
                          "render_only": args.render_only,
                          "render_workers": args.render_workers}  # fmt: skip
    result: dict[str, Any] = {"experiment": "learn_defects", **fixed, "epochs": epochs}
    tests = ("shift", "indist", *SQUARES)
    if "base" in parts or "aug" in parts:
        result["base"] = arm("", out, scale, [], epochs, ts, state, tests=tests, **fx)
    if "aug" in parts and not args.render_only:
        base = out / "runs" / "base" / "model.pt"
        data = [out / "data" / "train", out / "data" / "train2"]
        name, pipe = "aug", []
        if args.aug_pipeline is not None:
            name = f"aug_{args.aug_pipeline.stem}"
            pipe = [f"augment.pipeline={args.aug_pipeline.resolve()}"]
        run = train(name, data, out, args.aug_epochs, [*ts, *pipe], state, init=base)
        result[name] = {t: score(run, out / "data" / t, state) for t in tests}
    if "optics" in parts:
        for px in optics_px:
            result[f"optics_{px}px"] = arm(f"px{px}", out, scale,
                                           [f"scene.camera.optics.px_per_defect={px}"],
                                           epochs, ts, state, tests=("shift", CHECK),
                                           own_tests=True, **fx)  # fmt: skip
    if "balance" in parts:
        for mix, freq in (("longtail", LONG_TAIL), ("balanced", dict.fromkeys(DEFECTS, 0.2))):
            runs = arm(mix, out, scale, frequencies(freq), epochs, ts, state,
                       seeds=BALANCE_SEEDS, **fx)  # fmt: skip
            result[f"balance_{mix}"] = {"runs": runs}
            for t in ("shift", *SQUARES):
                got = [r[t]["AP50_per_type"].get("chip", -1.0) for r in runs.values()]
                chip = [v for v in got if v >= 0]  # -1: no chip in the test set
                result[f"balance_{mix}"][f"chip_AP50_{t}"] = {
                    "mean": statistics.mean(chip) if chip else None,
                    "spread": max(chip) - min(chip) if chip else None,
                }
    if "nuisances" in parts:
        off = [f"scene.nuisances.{k}.probability=0" for k in NUISANCES]
        result["no_nuisances"] = arm("nonuis", out, scale, off, epochs, ts, state, **fx)
    result["data"] = {k[7:]: v for k, v in state.data.items() if k.startswith("render_")}
    result["runs"] = {k[6:]: v for k, v in state.data.items() if k.startswith("train_")}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
