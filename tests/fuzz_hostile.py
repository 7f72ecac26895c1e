"""Fuzz ``synthcv validate``, ``augment``, ``render`` (configs) and ``merge``
(shards) with malformed datasets, pipelines, configs, shards and foreign files in
``--out``, built by a seeded generator.

``python tests/fuzz_hostile.py --seed S --cases N [--seconds T]`` runs N cases (or
until T seconds of cases have passed; at least one runs) in this process and
prints one JSON line; exit 1 if any case broke a rule. Each case copies a tiny
valid dataset, applies 1-3 random mutations (JSON values, JSON text,
segmentations, image files, the pipeline) and runs both commands through
``render.cli.main``. The rules:

- exit code 0, 1 or 2 (1 only from validate), nothing raised out of ``main``, no
  ``Traceback`` on stderr, exit 2 ends with one ``synthcv: error:`` line, and no
  message admits to running out of memory;
- each command takes at most ``--case-seconds`` (a timer interrupts a hang);
- the input tree (dataset and pipeline file) is unchanged, byte for byte;
- ``augment`` leaves ``--out`` absent (and no staging folder) unless it exits 0,
  and then a complete dataset that validates without errors whenever its input did;
  an ``--out`` holding files augment did not write is refused and left unchanged;
- ``render`` refuses a hostile config (alias bombs, deep nesting, tags, booleans or
  infinities for counts) with one line and writes nothing;
- ``merge`` of a rendered dataset whose shards were mixed with another run's,
  dropped, truncated or moved out of range either merges what is there unchanged
  (exit 0, no foreign shard) or refuses with one line and leaves annotations.json
  as it was.

Memory is bounded by ``RLIMIT_DATA`` (``--memory-mb``), set by the caller
(``tests/test_fuzz.py``) for the whole process and its workers.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import inspect
import io
import json
import os
import shutil
import signal
import stat
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from render.cli import main as synthcv  # noqa: E402
from render.formats.validate import validate_report  # noqa: E402
from tests.coco_fixtures import write_coco  # noqa: E402

HOSTILE: list[Any] = [
    None, True, -1, 0, 1, 7, 2**31, 2**64, -(2**70), 0.5, 1e308, "", "x",
    "../../outside.png", "/etc/passwd", "a\x00b", "é", [], [[]], [1], [1, 2, 3, 4],
    [[1, 2]], [[1.5, 2, 3, 4, 5, 6]], [[0, 0, 1e6, 0, 1e6, 1e6]], {}, {"a": [1]},
    {"size": [1, 1], "counts": "0"}, {"size": [24, 32], "counts": [1, 2, 3]},
    {"size": [24, 32], "counts": [768]}, {"size": [24, 32], "counts": "]]]]]]]]0"},
    "images/000001.png", [[[[[]]]]], {"size": [24, 32], "counts": "Z"},
]  # fmt: skip
KEYS = ["id", "image_id", "category_id", "file_name", "width", "height", "segmentation",
        "bbox", "area", "iscrowd", "keypoints", "parent_id", "instance_id", "scene_parent", "scene_instance", "flip_idx",
        "depth_file", "visibility", "camera_K"]  # fmt: skip
GOOD_PIPELINES = [
    "- HorizontalFlip: {p: 0.5}\n",
    "min_area: 4\ntransforms:\n  - Affine: {rotate: [-30, 30], p: 1}\n  - GaussNoise: {p: 1}\n",
    "- Resize: {height: 12, width: 20, p: 1}\n",
    "- RandomResizedCrop: {size: [16, 16], p: 1}\n",
    "- CoarseDropout: {fill_mask: 0, p: 1}\n",
    "- Perspective: {scale: [0.05, 0.1], p: 1}\n- MotionBlur: {p: 1}\n",
    "- ElasticTransform: {alpha: 10, sigma: 4, p: 1}\n",
    "- MaskDropout: {max_objects: 2, p: 1}\n",
    "- Crop: {x_min: 0, y_min: 0, x_max: 1, y_max: 1, p: 1}\n",
    (ROOT / "configs" / "augment" / "qc.yaml").read_text(),
]
HOSTILE_PIPELINES = [
    "- RandomCrop: {height: 100, width: 100, p: 1}\n",
    "- Resize: {height: 100000, width: 10}\n",
    "- PadIfNeeded: {min_height: 20000, min_width: 20000}\n",
    "- RandomScale: {scale_limit: 50, p: 1}\n",
    "- Blurr: {}\n",
    "- Affine: {rotat: 5}\n",
    "- GaussNoise: {std_range: [2, 3]}\n",
    "a: &a [1, 2]\ntransforms: [*a]\n",
    "!!python/object/apply:os.system ['echo pwned']\n",
    "[" * 5000 + "]" * 5000,
    "transforms: 5\n",
    "{min_area: -1, transforms: []}\n",
    "- Affine: {border_mode: 4}\n",
]
PLAUSIBLE: list[Any] = [0.5, 1.0, 1, 3, 16, [-10, 10], [0.1, 0.3], [3, 7], [16, 16], 0]
LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)
DEMO = ROOT / "configs" / "demo.yaml"
HOSTILE_CONFIGS = [
    LAUGHS,
    "seed: " + "[" * 20000 + "]" * 20000 + "\n",
    "seed: !!python/object/apply:os.system ['echo pwned']\n",
    "- a\n- b\n",
    "num_scenes: true\n",
    "num_scenes: .inf\n",
    "render: {resolution: [true, 64]}\n",
    "render: {resolution: [100000, 100000]}\n",
    "render: {samples: 2.5}\n",
    "scene: {family: pedestrians, people: {count: [1, .inf]}}\n",
    "scene: {family: pedestrians, people: {count: [100000, 100000]}}\n",
]
"""Render configs that must be refused with one line (merged into configs/demo.yaml)."""


def tree_digest(root: Path) -> dict[str, str]:
    """Path -> sha256 for regular files, the kind (and link target) for the rest."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = os.lstat(p)
        if stat.S_ISREG(st.st_mode):
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
        elif stat.S_ISLNK(st.st_mode):
            out[str(p.relative_to(root))] = f"link:{os.readlink(p)}"
        else:
            out[str(p.relative_to(root))] = f"mode:{stat.S_IFMT(st.st_mode)}"
    return out


def _mutate_json(doc: dict[str, Any], rng: np.random.Generator) -> str:
    section = str(rng.choice(["images", "annotations", "categories", "top"]))
    value = HOSTILE[int(rng.integers(len(HOSTILE)))]
    if section == "top":
        key = str(rng.choice(["images", "annotations", "categories", "info"]))
        doc[key] = value
        return f"top.{key}={value!r:.40}"
    items = doc.get(section)
    if not isinstance(items, list) or not items:
        return "no-op"
    k = int(rng.integers(len(items)))
    if rng.random() < 0.1:
        items[k] = value
        return f"{section}[{k}]={value!r:.40}"
    if rng.random() < 0.1:
        items.append(dict(items[k]))
        return f"{section}[{k}] duplicated"
    key = str(rng.choice(KEYS))
    if not isinstance(items[k], dict):
        return "no-op"
    if rng.random() < 0.2:
        items[k].pop(key, None)
        return f"{section}[{k}].{key} deleted"
    items[k][key] = value
    return f"{section}[{k}].{key}={value!r:.40}"


def _mutate_segmentation(doc: dict[str, Any], rng: np.random.Generator) -> str:
    anns = doc.get("annotations")
    if not isinstance(anns, list) or not anns:
        return "no-op"
    a = anns[int(rng.integers(len(anns)))]
    if not isinstance(a, dict):  # replaced by an earlier mutation
        return "no-op"
    kind = int(rng.integers(4))
    if kind == 0:
        text = bytes(rng.integers(32, 127, int(rng.integers(0, 40)))).decode()
        a["segmentation"] = {"size": [24, 32], "counts": text}
    elif kind == 1:
        a["segmentation"] = {
            "size": [24, 32],
            "counts": rng.integers(-5, 400, int(rng.integers(0, 12))).tolist(),
        }
    elif kind == 2:
        n = int(rng.integers(0, 12))
        a["segmentation"] = [rng.uniform(-40, 80, n).round(1).tolist()]
    else:
        a["segmentation"] = {"size": rng.integers(-2, 50, 2).tolist(), "counts": "04"}
    return f"annotation {a.get('id')!r:.20} segmentation kind {kind}"


def _mutate_text(text: str, rng: np.random.Generator) -> str:
    kind = int(rng.integers(5))
    if kind == 0:
        return text[: int(rng.integers(len(text)))]
    if kind == 1:
        return text.replace("0.0", str(rng.choice(["NaN", "Infinity", "-Infinity", "1e999"])), 1)
    if kind == 2:
        return "\ufeff" + text
    if kind == 3:
        return text.replace('"iscrowd": 0', '"iscrowd": ' + "[" * 3000 + "]" * 3000, 1)
    return text.replace('"person"', '"p\udcff"', 1) if "person" in text else text


def _mutate_files(root: Path, outside: Path, rng: np.random.Generator) -> str:
    images = sorted((root / "images").glob("*"))
    if not images:
        return "no-op"
    f = images[int(rng.integers(len(images)))]
    kind = int(rng.integers(7))
    mode = os.lstat(f).st_mode  # an earlier mutation may have made it a folder or link
    data = f.read_bytes() if stat.S_ISREG(mode) else b""
    if stat.S_ISDIR(mode):
        shutil.rmtree(f)
    else:
        f.unlink()
    if kind == 0:
        f.write_bytes(data[: int(rng.integers(len(data) + 1))])
    elif kind == 1:
        f.write_bytes(bytes(rng.integers(0, 256, 200, dtype=np.uint8)))
    elif kind == 2:
        os.mkfifo(f)
    elif kind == 3:
        f.mkdir()
    elif kind == 4:
        f.symlink_to(outside)
    elif kind == 5:
        f.symlink_to("/dev/zero")
    else:
        f.symlink_to(f)  # a loop
    return f"{f.name} file kind {kind}"


def _random_pipeline(rng: np.random.Generator) -> str:
    """1-3 real transforms with some of their real arguments set to plausible or
    hostile values."""
    from augment.pipeline import REGISTRY

    names = sorted(REGISTRY)
    lines = []
    for _ in range(int(rng.integers(1, 4))):
        name = names[int(rng.integers(len(names)))]
        params = [
            q for q in inspect.signature(REGISTRY[name]).parameters if q not in ("self", "kwargs")
        ]
        args: dict[str, Any] = {"p": 1.0}
        for _ in range(int(rng.integers(0, 3))):
            if params:
                pool = PLAUSIBLE if rng.random() < 0.7 else HOSTILE
                args[str(rng.choice(params))] = pool[int(rng.integers(len(pool)))]
        lines.append(f"- {name}: {json.dumps(args, default=str)}")
    return "\n".join(lines) + "\n"


def make_case(base: Path, case: Path, rng: np.random.Generator) -> tuple[Path, Path, list[str]]:
    """A mutated copy of ``base`` and a pipeline file under ``case``."""
    src = case / "src"
    shutil.copytree(base, src, symlinks=True)
    outside = case / "outside.png"
    shutil.copyfile(base / "images" / "000001.png", outside)
    what: list[str] = []
    doc = json.loads((src / "annotations.json").read_text())
    for _ in range(int(rng.choice([0, 0, 1, 2]))):  # half the datasets stay valid
        kind = int(rng.integers(3))
        if kind == 0:
            what.append(_mutate_json(doc, rng))
        elif kind == 1:
            what.append(_mutate_segmentation(doc, rng))
        else:
            what.append(_mutate_files(src, outside, rng))
    text = json.dumps(doc)
    if rng.random() < 0.2:
        text = _mutate_text(text, rng)
        what.append("json text")
    (src / "annotations.json").write_bytes(text.encode("utf-8", "surrogateescape"))
    pipeline = case / "pipeline.yaml"
    choice = rng.random()
    if choice < 0.55:
        pipeline.write_text(GOOD_PIPELINES[int(rng.integers(len(GOOD_PIPELINES)))])
    elif choice < 0.75:
        pipeline.write_text(HOSTILE_PIPELINES[int(rng.integers(len(HOSTILE_PIPELINES)))])
        what.append("hostile pipeline")
    elif choice < 0.95:
        pipeline.write_text(_random_pipeline(rng))
        what.append("random pipeline")
    elif choice < 0.98:
        pipeline.write_bytes(bytes(rng.integers(0, 256, 300, dtype=np.uint8)))
        what.append("binary pipeline")
    else:
        os.mkfifo(pipeline)
        what.append("fifo pipeline")
    return src, pipeline, what


def _config_case(case: Path, rng: np.random.Generator, seconds: float) -> list[str]:
    """``synthcv render`` of a hostile config: one line, nothing written."""
    import yaml

    text = HOSTILE_CONFIGS[int(rng.integers(len(HOSTILE_CONFIGS)))]
    config = case / "config.yaml"
    if text.startswith(("a: &a", "- a", "seed: [")):
        config.write_text(text)
    else:
        base = yaml.safe_load(DEMO.read_text())
        extra = yaml.safe_load(text) if "!!python" not in text else None
        if extra is None:
            config.write_text(text)
        else:
            for key, value in extra.items():
                base[key] = {**base[key], **value} if isinstance(value, dict) else value
            config.write_text(yaml.safe_dump(base))
    rout = case / "rout"
    rc, err = run_cli(["render", str(config), "--out", str(rout), "--renderer",
                       "tests.fake_renderer", "--no-progress"], seconds)  # fmt: skip
    problems = [f"render {text[:30]!r}: {p}" for p in _stderr_problems(rc, err, (2,))]
    if rout.exists():
        problems.append(f"render {text[:30]!r} left {rout.name}")
    return problems


def _foreign_out(out: Path, rng: np.random.Generator) -> dict[str, str]:
    """Put files augment did not write into ``out`` (sometimes an old augment output
    first): their digests, which must survive any run."""
    (out / "images").mkdir(parents=True)
    files = {"notes.txt": "mine", "images/README.txt": "hand labelled"}
    if rng.random() < 0.5:
        (out / "dataset.json").write_text('{"kind": "augment"}')
        files["dataset.json"] = '{"kind": "augment"}'
    for name, text in files.items():
        (out / name).write_text(text)
    return files


def _mutate_shards(ds: Path, other: Path, rng: np.random.Generator) -> str:
    kind = int(rng.integers(5))
    shards = sorted((ds / "shards").glob("*.json"))
    victim = shards[int(rng.integers(len(shards)))]
    if kind == 0:  # a shard of another run, same scene index
        victim.write_bytes((other / "shards" / victim.name).read_bytes())
    elif kind == 1:
        victim.unlink()
    elif kind == 2:
        victim.write_text(victim.read_text()[: int(rng.integers(1, 60))])
    elif kind == 3:  # a shard of a scene outside num_scenes
        (ds / "shards" / "000099.json").write_bytes(victim.read_bytes())
    else:
        doc = json.loads(victim.read_text())
        doc["run"] = HOSTILE[int(rng.integers(len(HOSTILE)))]
        victim.write_text(json.dumps(doc))
    return f"shards kind {kind} on {victim.name}"


def _merge_case(
    rendered: tuple[Path, Path], case: Path, rng: np.random.Generator, seconds: float
) -> list[str]:
    ds = case / "ds"
    shutil.copytree(rendered[0], ds)
    before = (ds / "annotations.json").read_bytes()
    what = _mutate_shards(ds, rendered[1], rng)
    rc, err = run_cli(["merge", str(ds)], seconds)
    problems = [f"merge ({what}): {p}" for p in _stderr_problems(rc, err, (0, 2))]
    if rc == 0:
        problems.append(f"merge ({what}) accepted a mixed, incomplete or broken run")
    elif (ds / "annotations.json").read_bytes() != before:
        problems.append(f"merge ({what}) failed but changed annotations.json")
    return problems


def _render_pair(work: Path) -> tuple[Path, Path]:
    """Two small fake renders (2 scenes, seeds 0 and 1) for the merge cases."""
    from render.config import load_config
    from render.driver import run_render

    out = []
    for seed in (0, 1):
        cfg = load_config(DEMO, ["num_scenes=2", f"seed={seed}", "render.resolution=[32, 24]"])
        with contextlib.redirect_stdout(io.StringIO()):
            run_render(cfg, work / f"r{seed}", renderer="tests.fake_renderer", progress=False)
        out.append(work / f"r{seed}")
    return out[0], out[1]


class _Hung(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Hung()


def run_cli(argv: list[str], seconds: float) -> tuple[int | str, str]:
    """``render.cli.main(argv)`` with stdout/stderr captured: (exit code or what
    went wrong, stderr)."""
    err, out = io.StringIO(), io.StringIO()
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            rc: int | str = synthcv(argv)
    except _Hung:
        rc = f"hung for more than {seconds} s"
    except BaseException as exc:  # noqa: BLE001 - anything escaping main is a failure
        rc = f"raised {type(exc).__name__}: {exc}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return rc, err.getvalue()


def _stderr_problems(rc: int | str, err: str, allowed: tuple[int, ...]) -> list[str]:
    problems = []
    if rc not in allowed:
        problems.append(f"exit {rc!r}")
    if "Traceback" in err:
        problems.append("traceback on stderr")
    lines = err.strip().splitlines()
    if rc == 2 and not (lines and lines[-1].startswith("synthcv: error: ")):
        problems.append("exit 2 without a closing 'synthcv: error:' line")
    if "MemoryError" in err or "out of memory" in err.lower():
        problems.append("ran out of memory")
    return problems


def check_case(
    base: Path,
    case: Path,
    rng: np.random.Generator,
    seconds: float,
    rendered: tuple[Path, Path] | None = None,
) -> dict[str, Any]:
    """Run the commands on one mutated case; the rules broken (empty: none)."""
    src, pipeline, what = make_case(base, case, rng)
    before = tree_digest(case)
    problems: list[str] = []
    if rng.random() < 0.15:
        what.append("hostile config")
        problems += _config_case(case, rng, seconds)
    if rendered is not None and rng.random() < 0.15:
        what.append("mixed shards")
        problems += _merge_case(rendered, case, rng, seconds)
    foreign = _foreign_out(case / "out", rng) if rng.random() < 0.15 else None
    if foreign is not None:
        what.append("foreign files in --out")
    rc, err = run_cli(["validate", str(src), "--max-problems", "5"], seconds)
    problems += [f"validate: {p}" for p in _stderr_problems(rc, err, (0, 1, 2))]
    input_valid = rc == 0
    out = case / "out"
    argv = ["augment", str(src), "--pipeline", str(pipeline), "--out", str(out), "--quiet"]
    argv += ["--copies", str(int(rng.integers(1, 3))), "--workers", str(int(rng.integers(1, 3)))]
    argv += ["--keep-originals"] if rng.random() < 0.3 else []
    argv += ["--overwrite"] if foreign is not None and rng.random() < 0.7 else []
    rc, err = run_cli(argv, seconds)
    problems += [f"augment: {p}" for p in _stderr_problems(rc, err, (0, 2))]
    leftovers = [p.name for p in case.iterdir() if p.name.startswith(".out")]
    if foreign is not None:
        kept = {k: (out / k).read_text() if (out / k).is_file() else None for k in foreign}
        if rc != 2 or kept != foreign:
            problems.append(f"augment exit {rc} over foreign files in --out (kept: {kept})")
    elif rc != 0 and (out.exists() or leftovers):
        problems.append(f"augment failed but left {'out' if out.exists() else leftovers}")
    if rc == 0:
        if not ((out / "annotations.json").is_file() and (out / "dataset.json").is_file()):
            problems.append("augment exited 0 without a complete output")
        elif input_valid:
            report = validate_report(out)
            problems += [f"output invalid: {e}" for e in report.errors[:3]]
    after = tree_digest(case)
    changed = sorted(
        k
        for k in set(before) | set(after)
        if not k.startswith(("out", "ds", "config.yaml")) and before.get(k) != after.get(k)
    )
    if changed:
        problems.append(f"input changed: {changed[:5]}")
    outcome = f"validate {'ok' if input_valid else 'invalid'}, augment exit {rc}"
    return {"what": what, "problems": problems, "outcome": outcome,
            "stderr": err.strip().splitlines()[-1:] if problems else []}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cases", type=int, default=10)
    p.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="stop starting cases this long after the set-up (at least one runs)",
    )
    p.add_argument("--case-seconds", type=float, default=60.0)
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="synthcv_fuzz_"))
    t0 = time.monotonic()
    failures, n = [], 0
    outcomes: dict[str, int] = {}
    slowest: tuple[float, int, list[str]] = (0.0, -1, [])
    try:
        base = write_coco(
            work / "base", np.random.default_rng(args.seed), n_images=2, height=24, width=32
        )
        rendered = _render_pair(work)
        cases_t0 = time.monotonic()  # --seconds counts the cases, not the set-up above
        for n in range(args.cases):
            if n and args.seconds is not None and time.monotonic() - cases_t0 > args.seconds:
                break  # the first case always runs, however loaded the machine
            rng = np.random.default_rng([args.seed, n])
            started = time.monotonic()
            result = check_case(base, work / f"case{n}", rng, args.case_seconds, rendered)
            slowest = max(slowest, (round(time.monotonic() - started, 2), n, result["what"]))
            outcomes[result["outcome"]] = outcomes.get(result["outcome"], 0) + 1
            for tag in ("hostile config", "mixed shards", "foreign files in --out"):
                if tag in result["what"]:
                    outcomes[tag] = outcomes.get(tag, 0) + 1
            if result["problems"]:
                failures.append({"seed": args.seed, "case": n, **result})
            shutil.rmtree(work / f"case{n}", ignore_errors=True)
        else:
            n = args.cases
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with open("/proc/self/status") as f:
        hwm = next((int(line.split()[1]) for line in f if line.startswith("VmHWM:")), -1)
    summary = {"seed": args.seed, "cases": n, "seconds": round(time.monotonic() - t0, 1),
               "peak_rss_mib": round(hwm / 1024, 1), "outcomes": outcomes, "slowest_case": slowest, "failures": failures}  # fmt: skip
    print(json.dumps(summary, default=str))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
