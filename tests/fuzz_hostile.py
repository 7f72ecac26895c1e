"""Fuzz ``synthcv validate`` and ``synthcv augment`` with malformed datasets and
pipelines built by a seeded generator.

``python tests/fuzz_hostile.py --seed S --cases N [--seconds T]`` runs N cases (or
until T seconds have passed) in this process and prints one JSON line; exit 1 if
any case broke a rule. Each case copies a tiny valid dataset, applies 1-3 random
mutations (JSON values, JSON text, segmentations, image files, the pipeline) and
runs both commands through ``render.cli.main``. The rules:

- exit code 0, 1 or 2 (1 only from validate), nothing raised out of ``main``, no
  ``Traceback`` on stderr, exit 2 ends with one ``synthcv: error:`` line, and no
  message admits to running out of memory;
- each command takes at most ``--case-seconds`` (a timer interrupts a hang);
- the input tree (dataset and pipeline file) is unchanged, byte for byte;
- ``augment`` leaves ``--out`` absent (and no staging folder) unless it exits 0,
  and then a complete dataset that validates without errors whenever its input did.

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


def check_case(base: Path, case: Path, rng: np.random.Generator, seconds: float) -> dict[str, Any]:
    """Run both commands on one mutated case; the rules broken (empty: none)."""
    src, pipeline, what = make_case(base, case, rng)
    before = tree_digest(case)
    problems: list[str] = []
    rc, err = run_cli(["validate", str(src), "--max-problems", "5"], seconds)
    problems += [f"validate: {p}" for p in _stderr_problems(rc, err, (0, 1, 2))]
    input_valid = rc == 0
    out = case / "out"
    argv = ["augment", str(src), "--pipeline", str(pipeline), "--out", str(out), "--quiet"]
    argv += ["--copies", str(int(rng.integers(1, 3))), "--workers", str(int(rng.integers(1, 3)))]
    argv += ["--keep-originals"] if rng.random() < 0.3 else []
    rc, err = run_cli(argv, seconds)
    problems += [f"augment: {p}" for p in _stderr_problems(rc, err, (0, 2))]
    leftovers = [p.name for p in case.iterdir() if p.name.startswith(".out")]
    if rc != 0 and (out.exists() or leftovers):
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
        if not k.startswith("out") and before.get(k) != after.get(k)
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
    p.add_argument("--seconds", type=float, default=None, help="stop starting cases after this")
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
        for n in range(args.cases):
            if args.seconds is not None and time.monotonic() - t0 > args.seconds:
                break
            rng = np.random.default_rng([args.seed, n])
            started = time.monotonic()
            result = check_case(base, work / f"case{n}", rng, args.case_seconds)
            slowest = max(slowest, (round(time.monotonic() - started, 2), n, result["what"]))
            outcomes[result["outcome"]] = outcomes.get(result["outcome"], 0) + 1
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
