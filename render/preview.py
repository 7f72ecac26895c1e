"""``synthcv preview CONFIG``: a few quick, low-sample renders of a config with
masks, boxes and keypoints drawn, in one PNG, for tuning a config by eye.

The config is rendered exactly as ``synthcv render`` would (same samplers, same
annotations) into a temporary folder, with fewer samples and a smaller
resolution (``--samples``, ``--max-side``), then drawn with
:func:`render.report.overlay.make_sheet`. Only the PNG is kept (``--keep DIR``
keeps the rendered dataset too).
"""

from __future__ import annotations

import contextlib
import io
import math
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, PngImagePlugin

from render.atomic import atomic_file
from render.errors import UserError
from render.outputs import OutputLock

SOFTWARE = "synthcv preview"


@dataclass(frozen=True)
class PreviewResult:
    path: Path
    images: int
    resolution: tuple[int, int]
    samples: int
    seconds: float


def _check_target(out: Path) -> None:
    """Replace only an earlier preview; refuse any other file."""
    if out.is_dir():
        raise UserError(f"--out {out}: is a directory; give a .png file name")
    if out.suffix.lower() != ".png":
        raise UserError(f"--out {out}: the preview is a PNG; give a name ending in .png")
    if not out.parent.is_dir():
        raise UserError(f"--out {out}: folder {out.parent} does not exist")
    if out.exists():
        try:
            with Image.open(out) as old:
                ours = old.info.get("Software") == SOFTWARE
        except (OSError, ValueError):
            ours = False
        if not ours:
            raise UserError(f"{out}: exists and is not a synthcv preview; not replacing it")


def preview_overrides(
    width: int, height: int, views: int, n: int, samples: int, max_side: int
) -> tuple[list[str], tuple[int, int]]:
    """The ``--set`` overrides that make a render a preview, and its resolution."""
    scale = min(1.0, max_side / max(width, height))
    res = (max(8, round(width * scale)), max(8, round(height * scale)))
    return [
        f"num_scenes={math.ceil(n / views)}",
        f"render.samples={samples}",
        f"render.resolution=[{res[0]}, {res[1]}]",
    ], res


def preview(
    config: Path,
    out: Path,
    *,
    overrides: list[str] | None = None,
    n: int = 4,
    samples: int = 4,
    max_side: int = 320,
    workers: int = 2,
    keep: Path | None = None,
    renderer: str = "render.blender.worker",
    progress: bool = False,
) -> PreviewResult:
    """Render ``n`` images of ``config`` quickly and write them with overlays to
    ``out`` (holding its lock; an existing file is replaced only if it is a preview)."""
    if not 1 <= n <= 64:
        raise UserError(f"-n {n}: expected 1..64 images")
    if not 1 <= samples <= 4096:
        raise UserError(f"--samples {samples}: expected 1..4096")
    if not 32 <= max_side <= 4096:
        raise UserError(f"--max-side {max_side}: expected 32..4096 pixels")
    _check_target(out)
    if keep is not None and keep.exists() and any(keep.iterdir()):
        raise UserError(f"--keep {keep}: not empty; give a new folder")
    with OutputLock(out, inside=False):
        _check_target(out)  # again, now that no other synthcv run can write it
        return _preview(config, out, overrides, n, samples, max_side, workers, keep, renderer,
                        progress)  # fmt: skip


def _preview(
    config: Path,
    out: Path,
    overrides: list[str] | None,
    n: int,
    samples: int,
    max_side: int,
    workers: int,
    keep: Path | None,
    renderer: str,
    progress: bool,
) -> PreviewResult:
    from render.config import load_config
    from render.driver import run_render
    from render.report.overlay import make_sheet

    user = list(overrides or [])
    base = load_config(config, user)
    extra, res = preview_overrides(
        *base.render.resolution, base.render.views_per_scene, n, samples, max_side
    )
    cfg = load_config(config, [*user, *extra])
    t0 = time.perf_counter()
    tmp = None if keep else Path(tempfile.mkdtemp(prefix="synthcv-preview-"))
    folder = keep or (tmp / "ds")  # type: ignore[operator]
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the render's summary names tmp
            run_render(
                cfg,
                folder,
                workers=max(1, min(workers, cfg.num_scenes)),
                renderer=renderer,
                progress=progress,
            )
        cols = min(n, 2 if n <= 4 else math.ceil(math.sqrt(n)))
        size = max(res[0], min(480, 2 * res[0]))  # drawn at least 1:1, labels readable
        sheet = make_sheet(folder, n, cols, size)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    meta = PngImagePlugin.PngInfo()
    meta.add_text("Software", SOFTWARE)
    meta.add_text("Config", str(config))
    try:
        with atomic_file(out) as f:
            sheet.save(f, format="PNG", pnginfo=meta)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    return PreviewResult(out, min(n, cfg.num_scenes * cfg.render.views_per_scene), res, samples,
                         time.perf_counter() - t0)  # fmt: skip
