"""Before/after contact sheet of the augmentation presets, with annotation overlays.

Rows are source images; columns the original and one augmented copy per preset.
Overlays: instance masks (filled, outlined), boxes, keypoints with the skeleton
(``left_*`` points cyan, ``right_*`` magenta, so a flip that forgets ``flip_idx``
shows up as swapped colours). Rows come from ``--source DIR`` if given, else
``out/demo`` when it holds a dataset, followed by ``--fixture-rows`` rows of the
synthetic fixture (``tests/coco_fixtures.py``: a keypointed person); without a
real dataset all rows are fixture rows.

Usage: ``python scripts/contact_sheet_augment.py [--out docs/images/augment_sheet.png]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from augment.dataset_io import read_image  # noqa: E402
from augment.pipeline import load_pipeline  # noqa: E402
from augment.writer import augment_dataset  # noqa: E402
from render.formats import coco  # noqa: E402
from tests.coco_fixtures import write_coco  # noqa: E402

PALETTE = np.array(
    [[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
     [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 190]],
    dtype=np.float32,
)  # fmt: skip
LEFT, RIGHT, CENTRE = (0, 255, 255), (255, 0, 255), (255, 255, 255)


def overlay(
    image: np.ndarray, anns: list[dict[str, Any]], categories: dict[int, Any]
) -> np.ndarray:
    """Draw masks, boxes and keypoints on an (H, W, 3) RGB uint8 image."""
    out = image.astype(np.float32)
    h, w = image.shape[:2]
    for k, a in enumerate(anns):
        color = PALETTE[k % len(PALETTE)]
        if "segmentation" in a:
            m = coco.decode(coco.segmentation_to_rle(a["segmentation"], h, w))
            out[m] = 0.55 * out[m] + 0.45 * color
    out_u8 = np.clip(out, 0, 255).astype(np.uint8)
    for k, a in enumerate(anns):
        color = tuple(int(c) for c in PALETTE[k % len(PALETTE)])
        if "segmentation" in a:
            m = coco.decode(coco.segmentation_to_rle(a["segmentation"], h, w)).astype(np.uint8)
            contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            cv2.drawContours(out_u8, contours, -1, color, 1)
        x, y, bw, bh = a["bbox"]
        cv2.rectangle(
            out_u8, (int(x), int(y)), (int(x + bw - 1), int(y + bh - 1)), (255, 255, 255), 1
        )
        cat = categories.get(a["category_id"], {})
        if a.get("keypoints"):
            kps = np.asarray(a["keypoints"], dtype=np.float64).reshape(-1, 3)
            names = cat.get("keypoints") or [""] * len(kps)
            for i, j in cat.get("skeleton", []):
                if kps[i - 1, 2] > 0 and kps[j - 1, 2] > 0:
                    p, q = kps[i - 1, :2].round().astype(int), kps[j - 1, :2].round().astype(int)
                    cv2.line(out_u8, tuple(p.tolist()), tuple(q.tolist()), (255, 255, 255), 1)
            for (x, y, v), name in zip(kps, names, strict=True):
                if v > 0:
                    c = (
                        LEFT
                        if name.startswith("left")
                        else RIGHT
                        if name.startswith("right")
                        else CENTRE
                    )
                    cv2.circle(out_u8, (int(round(x)), int(round(y))), 3 if v == 2 else 2, c, -1)
    return out_u8


def load(root: Path) -> tuple[dict[str, Any], dict[int, list[dict[str, Any]]]]:
    doc = json.loads((root / "annotations.json").read_text())
    by_image: dict[int, list[dict[str, Any]]] = {img["id"]: [] for img in doc["images"]}
    for a in doc["annotations"]:
        by_image[a["image_id"]].append(a)
    return doc, by_image


def tile(
    root: Path,
    img: dict[str, Any],
    anns: list[dict[str, Any]],
    cats: dict[int, Any],
    size: tuple[int, int],
) -> np.ndarray:
    image = read_image(root / img["file_name"], img["width"], img["height"])
    drawn = overlay(image, anns, cats)
    th, tw = size
    scale = min(th / drawn.shape[0], tw / drawn.shape[1])
    resized = cv2.resize(
        drawn,
        (int(drawn.shape[1] * scale), int(drawn.shape[0] * scale)),
        interpolation=cv2.INTER_AREA,
    )
    canvas = np.full((th, tw, 3), 32, np.uint8)
    canvas[: resized.shape[0], : resized.shape[1]] = resized
    return canvas


def sheet_rows(
    source: Path, tmp: Path, presets: list[str], n_rows: int, seed: int, size: tuple[int, int]
) -> list[np.ndarray]:
    """Augment ``source`` with each preset (1 copy) and draw ``n_rows`` rows."""
    outs = {}
    for name in presets:
        outs[name] = tmp / name
        spec = load_pipeline(ROOT / "configs" / "augment" / f"{name}.yaml")
        augment_dataset(source, spec, outs[name], copies=1, seed=seed, progress=False)
    doc, by_image = load(source)
    cats = {c["id"]: c for c in doc["categories"]}
    aug = {name: load(outs[name]) for name in presets}
    rows = []
    for img in doc["images"][:n_rows]:
        cells = [tile(source, img, by_image[img["id"]], cats, size)]
        for name in presets:
            adoc, aby = aug[name]
            (out_img,) = [i for i in adoc["images"] if i.get("augmented_from") == img["id"]]
            cells.append(tile(outs[name], out_img, aby[out_img["id"]], cats, size))
        rows.append(np.concatenate([np.pad(c, ((2, 2), (2, 2), (0, 0))) for c in cells], axis=1))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "augment_sheet.png")
    parser.add_argument("--rows", type=int, default=4)
    parser.add_argument(
        "--fixture-rows", type=int, default=2, help="fixture rows after a real source"
    )
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)

    presets = ["qc", "street"]
    size = (240, 320)
    rows: list[np.ndarray] = []
    with tempfile.TemporaryDirectory() as tmp:
        sources: list[tuple[Path, int]] = []
        source = args.source
        if source is None and (ROOT / "out" / "demo" / "annotations.json").is_file():
            source = ROOT / "out" / "demo"
        if source is not None:  # a real render, then fixture rows for keypoints and flips
            sources.append((source, args.rows - args.fixture_rows))
        fixture = write_coco(Path(tmp) / "src", np.random.default_rng(args.seed),
                             n_images=args.rows, height=240, width=320)  # fmt: skip
        sources.append((fixture, args.rows if source is None else args.fixture_rows))
        for k, (src, n_rows) in enumerate(sources):
            rows.extend(sheet_rows(src, Path(tmp) / f"aug{k}", presets, n_rows, args.seed, size))
    header = np.full((28, rows[0].shape[1], 3), 16, np.uint8)
    for k, label in enumerate(["original", "qc.yaml", "street.yaml"]):
        cv2.putText(
            header,
            label,
            (k * (size[1] + 4) + 8, 20),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.6,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
    sheet = np.concatenate([header, *rows], axis=0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from PIL import Image  # 256-colour palette: a third of the size, fine for a figure

    Image.fromarray(sheet).quantize(256, method=Image.Quantize.MEDIANCUT).save(
        args.out, optimize=True
    )
    print(f"wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
