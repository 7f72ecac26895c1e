"""Output file names of ``synthcv augment``: readable, deterministic, never shared.

A copy of ``dir/stem.ext`` is written as ``images/dir/stem_aug<copy><ext>`` (the
extension lower-cased, PNG for unknown ones), an original kept with
``--keep-originals`` as ``images/dir/stem.ext``, a depth file under its own relative
path. Two sources can map to one name (``a.png`` and ``images/a.png``; ``b.PNG`` and
``b.png``), and on a case-insensitive file system ``B.png`` and ``b.png`` are one
file. So names are claimed in source order in a :class:`Namespace` that compares
them case-folded and also refuses a file where a folder is needed (or the reverse):
the first claimant keeps the plain name, a later one gets its image id in the stem
(``stem_<id>_aug0.png``), then a counter. Pure functions of the entries: the same
source always gives the same names.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
RESERVED = ("annotations.json", "dataset.json")
"""Top-level names the output needs for itself."""


class Namespace:
    """The set of relative paths already used in one output directory."""

    def __init__(self, reserved: tuple[str, ...] = RESERVED) -> None:
        self._files: set[str] = set()
        self._dirs: set[str] = set()
        for name in reserved:
            self._add(name)

    @staticmethod
    def _key(name: str) -> PurePosixPath:
        return PurePosixPath(name.casefold())

    def is_free(self, name: str) -> bool:
        """True if ``name`` is neither a used file or folder nor under a used file."""
        key = self._key(name)
        if str(key) in self._files or str(key) in self._dirs:
            return False
        return not any(str(p) in self._files for p in key.parents)

    def _add(self, name: str) -> None:
        key = self._key(name)
        self._files.add(str(key))
        self._dirs.update(str(p) for p in key.parents if str(p) != ".")

    def claim(self, candidates: Iterator[str]) -> str:
        """The first free name of ``candidates`` (an endless iterator), now used."""
        for name in candidates:
            if self.is_free(name):
                self._add(name)
                return name
        raise RuntimeError("the candidate names ran out")  # candidates are endless


def _under_images(file_name: str) -> PurePosixPath:
    rel = PurePosixPath(file_name)
    return rel if len(rel.parts) > 1 and rel.parts[0] == "images" else "images" / rel


def _variants(rel: PurePosixPath, stem: str, suffix: str, image_id: int) -> Iterator[str]:
    """``dir/<stem><suffix>``, then with the image id, then with a counter; finally
    flat names under ``images/``, in case ``dir`` itself is taken by a file."""
    yield str(rel.with_name(f"{rel.stem}{stem}{suffix}"))
    yield str(rel.with_name(f"{rel.stem}_{image_id}{stem}{suffix}"))
    for n in range(1, 4):
        yield str(rel.with_name(f"{rel.stem}_{image_id}{stem}_{n}{suffix}"))
    n = 0
    while True:
        n += 1
        yield f"images/{image_id}{stem}_{n}{suffix}"


def copy_suffix(file_name: str) -> str:
    """Extension of augmented copies: the source's, lower-cased, or ``.png``."""
    suffix = PurePosixPath(file_name).suffix.lower()
    return suffix if suffix in IMAGE_EXTS else ".png"


@dataclass(frozen=True)
class ImageNames:
    """Where one source image's outputs go (paths relative to the output root)."""

    original: str | None
    copies: tuple[str, ...]
    depth: str | None


def plan_names(
    entries: list[tuple[int, str, str | None]], copies: int, keep_originals: bool
) -> list[ImageNames]:
    """Output names for ``entries`` = ``(image_id, file_name, depth_file or None)`` in
    source order (``depth_file`` only matters with ``keep_originals``)."""
    space = Namespace()
    plan = []
    for image_id, file_name, depth in entries:
        rel = _under_images(file_name)
        original = None
        if keep_originals:
            original = space.claim(_variants(rel, "", rel.suffix, image_id))
        suffix = copy_suffix(file_name)
        names = tuple(
            space.claim(_variants(rel, f"_aug{c}", suffix, image_id)) for c in range(copies)
        )
        depth_name = None
        if keep_originals and depth is not None:
            d = PurePosixPath(depth)
            depth_name = space.claim(_variants(d, "", d.suffix, image_id))
        plan.append(ImageNames(original, names, depth_name))
    return plan
