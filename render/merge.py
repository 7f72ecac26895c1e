"""Streaming merge of per-scene shards into ``DIR/annotations.json`` with compact ids.

Shards keep their own numbering (``render.dataset.image_id``: ``scene * 1000 + view
+ 1``; annotations ``image_id * 10000 + scene_instance``): it depends on the scene
alone, so a shard is the same whichever worker or machine wrote it. Only the merge
assigns the final COCO ids, contiguous from 1: images in (scene, view) order,
annotations in (scene, view, instance) order, where a crowd region sorts at its
lowest member. The ids therefore depend only on which scenes are merged, never on
the order they were rendered in, the worker count, the executor or a resume: a
resumed or cluster run equals an uninterrupted local one byte for byte, and ids
stay below 2^31 for any dataset of fewer than 2^31 annotations. Entries keep
``scene_id``, ``view_index`` (images), ``scene_instance`` and ``instance_name``
(annotations) for traceability; crowd, keypoint and amodal fields pass unchanged.

The output is written incrementally: one shard is in memory at a time; images go
straight to the output, annotations to a temporary side file appended at the end,
so memory does not grow with the dataset and no mask is held twice.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Container
from pathlib import Path
from typing import IO, Any

from render import shards
from render.atomic import TMP_SUFFIX, atomic_file, atomic_write_json
from render.config import Config
from render.errors import DatasetError
from render.outputs import OutputLock
from render.versions import package_versions


def coco_info(cfg: Config) -> dict[str, Any]:
    """The COCO ``info`` block a render writes (also used by ``synthcv merge``)."""
    return {
        "description": f"synthcv {cfg.scene.family} dataset",
        "version": package_versions()["synthcv"],
        "seed": cfg.seed,
    }


def _dump(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def _ann_key(ann: dict[str, Any]) -> tuple[int, int]:
    """(instance, id) sort key inside one image: a crowd region at its lowest member."""
    key = "scene_instance" if "scene_instance" in ann else "instance_id"  # older shards
    if key in ann:
        inst = int(ann[key])
    else:
        members = (ann.get("attributes") or {}).get("members") or [0]
        inst = min(int(m) for m in members)
    return inst, int(ann.get("id", 0))


class _Writer:
    """Appends JSON array items to a text stream, commas included."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.empty = True

    def extend(self, items: list[dict[str, Any]]) -> None:
        if not items:
            return
        text = _dump(items)[1:-1]
        self.stream.write(text if self.empty else "," + text)
        self.empty = False


def renumber(
    shard: dict[str, Any], first_image: int, first_annotation: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A shard's images and annotations with final ids: images from ``first_image``
    in view order, annotations from ``first_annotation`` in (view, instance) order,
    ``image_id`` remapped. Raises DatasetError for an annotation of an unknown image."""
    images = sorted(shard["images"], key=lambda im: (int(im.get("view_index", 0)), im["id"]))
    new_id: dict[int, int] = {}
    position: dict[int, int] = {}
    out_images = []
    for k, im in enumerate(images):
        new_id[im["id"]] = first_image + k
        position[im["id"]] = k
        out_images.append({**im, "id": first_image + k})
    anns = []
    for a in shard["annotations"]:
        if a.get("image_id") not in new_id:
            raise DatasetError(
                f"scene {shard.get('scene_index')}: annotation {a.get('id')} refers to image "
                f"{a.get('image_id')}, not in the shard"
            )
        anns.append(a)
    anns.sort(key=lambda a: (position[a["image_id"]], *_ann_key(a)))
    out_anns = [
        {**a, "id": first_annotation + k, "image_id": new_id[a["image_id"]]}
        for k, a in enumerate(anns)
    ]
    return out_images, out_anns


def merge(
    out_dir: Path,
    cfg: Config,
    info: dict[str, Any],
    *,
    scenes: Container[int] | None = None,
    require: bool = True,
    skip_unreadable: bool = False,
) -> dict[str, Any]:
    """Merge shards in scene order into ``DIR/annotations.json`` (atomic, streamed).

    ``scenes``: only these scene indices (default: every shard present); with
    ``require`` each of them must have a shard (``scenes`` must then be iterable).
    ``skip_unreadable``: leave out an unreadable shard (an uncommitted scene)
    instead of raising. COCO ``categories`` come from ``cfg.categories``.
    Returns ``{"scenes", "images", "annotations", "category_counts", "timings",
    "merged": [scene indices]}`` (timings summed). Raises DatasetError naming an
    unreadable shard, a shard of another run (:func:`render.shards.foreign`), a
    missing requested scene, or a category not in the config.
    """
    out_dir = Path(out_dir)
    run = shards.run_identity(cfg.model_dump(mode="json"))
    files = shards.shard_files(out_dir)
    if scenes is not None:
        if require:
            wanted = set(scenes)  # type: ignore[call-overload]
            missing = sorted(wanted - {i for i, _ in files})
            if missing:
                raise DatasetError(
                    f"{out_dir / 'shards'}: no shard for scene(s) {missing[:10]}"
                    + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
                )
        files = [(i, p) for i, p in files if i in scenes]
    names = {c.id: c.name for c in cfg.categories}
    counts: dict[str, int] = {c.name: 0 for c in cfg.categories}
    timings: dict[str, float] = {}
    merged: list[int] = []
    n_images = n_anns = 0
    side_fd, side_tmp = tempfile.mkstemp(
        dir=out_dir, prefix=".annotations-body.", suffix=TMP_SUFFIX
    )
    try:
        with (
            atomic_file(out_dir / "annotations.json", "w") as main,
            os.fdopen(side_fd, "w+", encoding="utf-8") as side,
        ):
            main.write('{"info":' + _dump(dict(info)) + ',"licenses":[],"images":[')
            image_out, ann_out = _Writer(main), _Writer(side)
            for index, path in files:
                shard = shards.read_shard(index, path)
                if shard is None:
                    if skip_unreadable:
                        continue
                    raise DatasetError(
                        f"{path}: unreadable or malformed shard; re-run the render with --resume"
                    )
                why = shards.foreign(shard, run)
                if why is not None:
                    raise DatasetError(f"{path}: {why}; move it out of {out_dir / 'shards'}")
                for a in shard["annotations"]:
                    if a.get("category_id") not in names:
                        raise DatasetError(
                            f"{path}: annotation {a.get('id')} has category_id "
                            f"{a.get('category_id')}, not in the config's categories {sorted(names)}"
                        )
                    counts[names[a["category_id"]]] += 1
                images, anns = renumber(shard, n_images + 1, n_anns + 1)
                image_out.extend(images)
                ann_out.extend(anns)
                n_images += len(images)
                n_anns += len(anns)
                merged.append(index)
                for key, value in shard.get("timings", {}).items():
                    timings[key] = timings.get(key, 0.0) + float(value)
            main.write('],"annotations":[')
            side.flush()
            side.seek(0)
            shutil.copyfileobj(side, main, 4 * 2**20)
            categories = [c.coco() for c in cfg.categories]
            main.write('],"categories":' + _dump(categories) + "}")
    finally:
        Path(side_tmp).unlink(missing_ok=True)
    return {
        "scenes": len(merged),
        "images": n_images,
        "annotations": n_anns,
        "category_counts": counts,
        "timings": timings,
        "merged": merged,
    }


def merge_dataset(
    out_dir: Path, cfg: Config, record: dict[str, Any], *, partial: bool = False
) -> dict[str, Any]:
    """``synthcv merge DIR``: merge the shards of scenes ``0 .. num_scenes - 1`` into
    ``DIR/annotations.json`` (as a render does at its end) and update the counts and
    status in ``DIR/dataset.json`` (``record`` is its content), holding DIR's lock.

    Refused with a one-line DatasetError: a shard of another run, a shard of a scene
    outside the run's ``num_scenes``, and (unless ``partial``) scenes without a
    readable shard, named with the command that renders them."""
    out_dir = Path(out_dir)
    with OutputLock(out_dir):
        present = shards.shard_files(out_dir)
        extra = [(i, p) for i, p in present if i >= cfg.num_scenes]
        if extra:
            raise DatasetError(
                f"{extra[0][1]}: scene {extra[0][0]} is outside this run's {cfg.num_scenes} "
                f"scenes (num_scenes in {out_dir / 'dataset.json'}); move it out of "
                f"{out_dir / 'shards'}"
            )
        if not partial:
            for index, path in present:
                if shards.read_shard(index, path) is None:
                    raise DatasetError(
                        f"{path}: unreadable or malformed shard; re-run the render with "
                        "--resume (or merge the other scenes with --partial)"
                    )
        done = shards.check_provenance(out_dir, shards.run_identity(cfg.model_dump(mode="json")))
        missing = sorted(set(range(cfg.num_scenes)) - done)
        if missing and not partial:
            shown = ", ".join(map(str, missing[:10])) + (
                f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            )
            raise DatasetError(
                f"{out_dir}: {len(missing)} of {cfg.num_scenes} scenes have no committed shard "
                f"(scene {shown}); render them with 'synthcv render CONFIG --out {out_dir} "
                "--resume' (the same CONFIG and --set), or merge what is there with --partial"
            )
        summary = merge(out_dir, cfg, coco_info(cfg), scenes=sorted(done))
        record = {
            **record,
            "status": "complete" if not missing else "partial",
            "scenes": summary["scenes"],
            "images": summary["images"],
            "annotations": summary["annotations"],
            "category_counts": summary["category_counts"],
        }
        atomic_write_json(out_dir / "dataset.json", record, indent=2)
    summary["missing"] = missing
    return summary
