"""COCO segmentations from outside: checked before pycocotools sees them, decoded in
bulk to runs, and overlaps found from a per-pixel owner map.

pycocotools trusts its input: RLE counts adding up to more than H * W make
``decode`` write past its buffer, a NaN or huge polygon coordinate makes
``frPyObjects`` allocate without bound, a 4-number polygon is taken for a box.
:func:`decode_segmentations` checks all of that for many annotations at once
(compressed counts are decoded with numpy, not per annotation in Python) and
returns, per annotation, an error or its area and ``toBbox`` box (bit-exact with
pycocotools), plus the foreground runs (column-major pixel index, length) that
:func:`overlap_pairs` rasterises once into an owner map.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from render.formats import coco

MAX_PERIMETER = 10_000_000
"""Longest polygon outline (pixels): pycocotools allocates ~40 bytes per pixel of it."""


@dataclass(frozen=True)
class Decoded:
    """:func:`decode_segmentations` of N segmentations.

    ``errors[i]``: None or what is wrong with segmentation i (its area and bbox are
    then 0). ``area`` (N,) int64 pixels; ``bbox`` (N, 4) float64 ``[x, y, w, h]`` as
    ``pycocotools.mask.toBbox``; ``extent`` (N, 4) float64 the vertex extent of
    polygons, NaN for RLEs. ``start``, ``length``, ``owner`` (R,) int64: foreground
    runs of length > 0 (first pixel as a column-major index ``x * H + y``), each
    with the segmentation it belongs to, grouped by owner in order. An empty
    mask's bbox is ``[0, 0, 0, 0]`` (pycocotools 2.0.11 returns ``[W, H, 2**32 - 2,
    2**32 - 1]``).
    """

    errors: list[str | None]
    area: np.ndarray
    bbox: np.ndarray
    extent: np.ndarray
    start: np.ndarray
    length: np.ndarray
    owner: np.ndarray


def _polygon_rle(seg: list[Any], h: int, w: int) -> tuple[bytes, np.ndarray]:
    """Check COCO polygons and rasterise them: (compressed counts, vertex extent)."""
    rings = []
    perimeter = 0.0
    for k, ring in enumerate(seg):
        try:
            xy = np.asarray(ring, dtype=np.float64)
        except (ValueError, TypeError):
            raise ValueError(f"polygon {k} is not a list of numbers") from None
        if xy.ndim != 1 or len(xy) % 2:
            raise ValueError(f"polygon {k} must be a flat list [x, y, ...] of even length")
        if len(xy) < 6:
            raise ValueError(f"polygon {k} has {len(xy) // 2} point(s); a polygon needs 3")
        pts = xy.reshape(-1, 2)
        if not np.isfinite(pts).all():
            raise ValueError(f"polygon {k} has a non-finite coordinate")
        lo, hi = pts.min(0), pts.max(0)
        if lo[0] < -w or lo[1] < -h or hi[0] > 2 * w or hi[1] > 2 * h:
            raise ValueError(f"polygon {k} reaches {[*lo, *hi]}, far outside the {w}x{h} image")
        steps = np.abs(np.diff(pts, axis=0, append=pts[:1])).max(1)
        perimeter += float(steps.sum())
        rings.append(xy)
    if not rings:
        raise ValueError("empty polygon list")
    if perimeter > min(MAX_PERIMETER, 2.0 * h * w + 4 * (h + w)):
        raise ValueError(f"polygon outline of {perimeter:.0f} px is longer than the limit")
    counts = coco.polygons_to_rle([r.tolist() for r in rings], h, w)["counts"].encode("ascii")
    pts = np.concatenate([r.reshape(-1, 2) for r in rings])
    lo, hi = pts.min(0), pts.max(0)
    return counts, np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]])


def _classify(seg: Any, h: int, w: int) -> tuple[bytes | np.ndarray, np.ndarray | None]:
    """One segmentation -> (compressed counts bytes or uncompressed counts array,
    polygon extent or None); ValueError says what is wrong."""
    if isinstance(seg, list):
        return _polygon_rle(seg, h, w)
    if not isinstance(seg, dict):
        raise ValueError(f"unsupported segmentation type {type(seg).__name__}")
    size = seg.get("size")
    if (
        not isinstance(size, list | tuple)
        or len(size) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in size)
    ):
        raise ValueError(f"RLE size must be [height, width], got {size!r}")
    if list(size) != [h, w]:
        raise ValueError(f"RLE size {list(size)} != image [height, width] {[h, w]}")
    counts = seg.get("counts")
    if isinstance(counts, str):
        try:
            return counts.encode("ascii"), None
        except UnicodeEncodeError:
            raise ValueError("RLE counts string is not ASCII") from None
    if isinstance(counts, list):
        if not all(type(v) is int for v in counts):  # not bool, float, list, ...
            raise ValueError("uncompressed RLE counts must be a flat list of integers")
        return np.array(counts, dtype=np.int64), None
    raise ValueError(f"RLE counts must be a string or a list, got {type(counts).__name__}")


def _position_in_group(owner: np.ndarray, n: int) -> np.ndarray:
    """For ``owner`` sorted ascending (values in 0..n-1): each element's index
    within its run of equal owners."""
    counts = np.bincount(owner, minlength=n)
    first = np.cumsum(counts) - counts
    return np.arange(len(owner)) - np.repeat(first, counts)


def _decode_strings(strings: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """pycocotools' compressed RLE strings -> (values (V,) int64, owner (V,) int64,
    bad (S,) bool), all at once. Each count is 5-bit groups, low first, ``0x20``
    meaning more follow, ``0x10`` in the last a sign; from the fourth count on each
    is stored as the difference to the count two before (pycocotools' rleFrString)."""
    s = len(strings)
    lens = np.fromiter((len(x) for x in strings), np.int64, count=s)
    bad = np.zeros(s, bool)
    if not lens.sum():
        return np.zeros(0, np.int64), np.zeros(0, np.int64), bad
    c = np.frombuffer(b"".join(strings), np.uint8).astype(np.int64) - 48
    char_owner = np.repeat(np.arange(s), lens)
    bad[char_owner[(c < 0) | (c > 63)]] = True
    more = (c & 0x20) != 0
    last = np.cumsum(lens)[lens > 0] - 1
    bad[char_owner[last[more[last]]]] = True  # a count cut off at the string's end
    end = ~more
    end[last] = True
    first = np.flatnonzero(np.r_[True, end[:-1]])  # first char of each count
    k = np.arange(len(c)) - np.repeat(first, np.diff(np.r_[first, len(c)]))
    # pycocotools shifts in a 32-bit int: from the 7th character on (bit 30) its result
    # is not the number written; no count of an image under 2**29 pixels needs it
    bad[char_owner[k >= 6]] = True
    k = np.minimum(k, 5)
    values = np.add.reduceat((c & 0x1F) << (5 * k), first)
    ends = np.flatnonzero(end)
    negative = (c[ends] & 0x10) != 0
    values = np.where(negative, values - (np.int64(1) << (5 * (k[ends] + 1))), values)
    owner = char_owner[ends]
    # undo the differences: counts m >= 3 add count m - 2, i.e. cumulative sums along
    # the odd (from m = 1) and even (from m = 2) positions of each string
    m = _position_in_group(owner, s)
    chain = np.flatnonzero(m >= 1)
    key = owner[chain] * 2 + (m[chain] & 1)
    order = chain[np.argsort(key, kind="stable")]
    sorted_key = owner[order] * 2 + (m[order] & 1)
    cs = np.cumsum(values[order])
    if len(order):
        heads = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
        base = cs[heads] - values[order][heads]
        values[order] = cs - np.repeat(base, np.diff(np.r_[heads, len(order)]))
    return values, owner, bad


def decode_segmentations(segs: Sequence[Any], sizes: Sequence[tuple[int, int]]) -> Decoded:
    """Check and decode COCO segmentations (polygons, uncompressed or compressed RLE)
    of images of ``sizes`` ((height, width) each), see :class:`Decoded`."""
    n = len(segs)
    errors: list[str | None] = [None] * n
    extent = np.full((n, 4), np.nan)
    strings: list[bytes] = []
    string_of: list[int] = []
    arrays: list[tuple[int, np.ndarray]] = []
    for i, (seg, (h, w)) in enumerate(zip(segs, sizes, strict=True)):
        if type(seg) is dict:  # fast path: compressed RLE of the right size
            size, text = seg.get("size"), seg.get("counts")
            if (
                type(text) is str
                and type(size) is list
                and len(size) == 2
                and type(size[0]) is int
                and type(size[1]) is int
                and size[0] == h
                and size[1] == w
                and text.isascii()
            ):
                strings.append(text.encode())
                string_of.append(i)
                continue
        try:
            counts, ext = _classify(seg, h, w)
        except (ValueError, TypeError, OverflowError) as exc:
            text = str(exc)
            errors[i] = text if text.startswith("RLE size") else f"unreadable segmentation: {text}"
            continue
        if ext is not None:
            extent[i] = ext
        if isinstance(counts, bytes):
            strings.append(counts)
            string_of.append(i)
        else:
            arrays.append((i, counts))
    values, str_owner, bad = _decode_strings(strings)
    idx = np.asarray(string_of, np.int64)
    for j in np.flatnonzero(bad):
        errors[int(idx[j])] = "unreadable segmentation: malformed compressed RLE counts"
    parts_v = [values] + [a for _, a in arrays]
    parts_o = [idx[str_owner] if len(idx) else str_owner]
    parts_o += [np.full(len(a), i, np.int64) for i, a in arrays]
    values, owner = np.concatenate(parts_v), np.concatenate(parts_o)
    order = np.argsort(owner, kind="stable")
    values, owner = values[order], owner[order]
    return _runs(values, owner, np.asarray(sizes, np.int64).reshape(n, 2), errors, extent)


def _runs(
    values: np.ndarray,
    owner: np.ndarray,
    sizes: np.ndarray,
    errors: list[str | None],
    extent: np.ndarray,
) -> Decoded:
    """Counts grouped by owner -> area, toBbox box and foreground runs, checking
    that each owner's counts are >= 0 and cover exactly its H * W pixels."""
    n = len(errors)
    hw = sizes[:, 0] * sizes[:, 1]
    negative = np.bincount(owner[values < 0], minlength=n) > 0
    total = np.bincount(owner, weights=values.astype(np.float64), minlength=n)
    for i in np.flatnonzero(negative | (total != hw)):
        if errors[i] is None:
            what = "a negative count" if negative[i] else f"{int(total[i])} pixels"
            errors[i] = f"unreadable segmentation: RLE counts give {what}, the image has {hw[i]}"
    ok = np.array([e is None for e in errors], bool)
    keep = ok[owner] if n else np.zeros(0, bool)
    values, owner = values[keep], owner[keep]
    m = _position_in_group(owner, n)
    cc = np.cumsum(values)
    cc = cc - np.r_[0, cc][np.arange(len(values)) - m]  # cumulative count within each owner
    fg = (m & 1) == 1
    area = np.bincount(owner[fg], weights=values[fg], minlength=n).astype(np.int64)
    bbox = np.zeros((n, 4))
    run = fg & (values > 0)
    start, length, run_owner = cc[run] - values[run], values[run], owner[run]
    if len(start):
        # pycocotools 2.0.11's toBbox for a non-empty mask: the first and last pixel
        # of every non-empty foreground run; a run crossing columns spans all rows
        h = sizes[run_owner, 0]
        end = start + length - 1
        x0, x1, y0, y1 = start // h, end // h, start % h, end % h
        groups = np.flatnonzero(np.r_[True, run_owner[1:] != run_owner[:-1]])
        who = run_owner[groups]
        xs, xe = np.minimum.reduceat(x0, groups), np.maximum.reduceat(x1, groups)
        ys = np.minimum.reduceat(np.minimum(y0, y1), groups)
        ye = np.maximum.reduceat(np.maximum(y0, y1), groups)
        full = np.logical_or.reduceat(x1 > x0, groups)
        ys = np.where(full, 0, ys)
        ye = np.where(full, sizes[who, 0] - 1, ye)
        bbox[who] = np.stack([xs, ys, xe - xs + 1, ye - ys + 1], axis=1)
    return Decoded(errors, area, bbox, extent, start, length, run_owner)


def _expand(start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Every pixel index of runs ``(start, length)``, in run order (int64)."""
    total = int(length.sum())
    shift = np.repeat(start - (np.cumsum(length) - length), length)
    return shift + np.arange(total, dtype=np.int64)


def overlap_pairs(
    start: np.ndarray,
    length: np.ndarray,
    rank: np.ndarray,
    n_pixels: int,
    chunk: int = 1 << 21,
) -> np.ndarray:
    """Pairs of masks sharing a pixel, from a per-pixel owner map.

    Masks are painted in ``rank`` order into one owner map of ``n_pixels`` (the
    images of a batch side by side: ``start`` already offset per image); wherever a
    mask paints over a pixel, ``(previous owner, mask)`` is a pair. Every pixel
    covered by several masks yields the consecutive pairs of its painting order: if
    not every one of them is an ancestor pair, one that is not is reported. Runs
    ``(start, length, rank)`` (R,) int64 must be grouped by rank, ranks ascending.
    Returns (P, 2) int64 unique ``(earlier rank, later rank)``. Time and memory are
    linear in the masks' total area, about ``chunk`` pixels expanded at once.
    """
    if not len(rank):
        return np.zeros((0, 2), np.int64)
    owner = np.full(n_pixels, -1, np.int32)
    n_ranks = int(rank.max()) + 1
    found: list[np.ndarray] = []
    bounds = np.flatnonzero(np.r_[True, rank[1:] != rank[:-1], True])  # runs of each mask
    area = np.add.reduceat(length, bounds[:-1])
    # masks in painting order, cut into chunks of about `chunk` pixels (a larger
    # mask is a chunk of its own)
    cut = np.flatnonzero(np.r_[True, np.diff((np.cumsum(area) - area) // chunk) > 0])
    cut = np.r_[cut, len(area)]
    for g, h in zip(cut[:-1], cut[1:], strict=True):
        lo, hi = bounds[g], bounds[h]
        pix = _expand(start[lo:hi], length[lo:hi])
        rk = np.repeat(rank[lo:hi], length[lo:hi])
        if h - g > 1:  # several masks: order by pixel, then painting order (each
            # mask's pixels are already ascending: timsort merges the runs)
            key = np.sort(pix * n_ranks + rk, kind="stable")
            pix, rk = key // n_ranks, key % n_ranks
            new = np.r_[True, pix[1:] != pix[:-1]]
            inner = ~new[1:]
            found.append(np.stack([rk[:-1][inner], rk[1:][inner]], axis=1))
        else:
            new = np.ones(len(pix), bool)
        prev = owner[pix[new]]
        seen = prev >= 0
        found.append(np.stack([prev[seen], rk[new][seen]], axis=1))
        last = np.r_[pix[1:] != pix[:-1], True]
        owner[pix[last]] = rk[last]
    pairs = np.concatenate(found)
    return np.unique(pairs, axis=0) if len(pairs) else pairs.reshape(0, 2)
