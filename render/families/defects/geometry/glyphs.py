"""A 5x7 dot-matrix font and text strings for printed marks (date codes, lot numbers,
labels) as they come out of a continuous-inkjet coder on a production line."""

from __future__ import annotations

import numpy as np

_FONT = {
    "0": ["01110", "10001", "10011", "10101", "11001", "10001", "01110"],
    "1": ["00100", "01100", "00100", "00100", "00100", "00100", "01110"],
    "2": ["01110", "10001", "00001", "00010", "00100", "01000", "11111"],
    "3": ["11110", "00001", "00001", "01110", "00001", "00001", "11110"],
    "4": ["00010", "00110", "01010", "10010", "11111", "00010", "00010"],
    "5": ["11111", "10000", "11110", "00001", "00001", "10001", "01110"],
    "6": ["00110", "01000", "10000", "11110", "10001", "10001", "01110"],
    "7": ["11111", "00001", "00010", "00100", "01000", "01000", "01000"],
    "8": ["01110", "10001", "10001", "01110", "10001", "10001", "01110"],
    "9": ["01110", "10001", "10001", "01111", "00001", "00010", "01100"],
    "A": ["01110", "10001", "10001", "11111", "10001", "10001", "10001"],
    "B": ["11110", "10001", "10001", "11110", "10001", "10001", "11110"],
    "C": ["01110", "10001", "10000", "10000", "10000", "10001", "01110"],
    "D": ["11110", "10001", "10001", "10001", "10001", "10001", "11110"],
    "E": ["11111", "10000", "10000", "11110", "10000", "10000", "11111"],
    "F": ["11111", "10000", "10000", "11110", "10000", "10000", "10000"],
    "L": ["10000", "10000", "10000", "10000", "10000", "10000", "11111"],
    "N": ["10001", "11001", "10101", "10011", "10001", "10001", "10001"],
    "O": ["01110", "10001", "10001", "10001", "10001", "10001", "01110"],
    "P": ["11110", "10001", "10001", "11110", "10000", "10000", "10000"],
    "S": ["01111", "10000", "10000", "01110", "00001", "00001", "11110"],
    "T": ["11111", "00100", "00100", "00100", "00100", "00100", "00100"],
    "X": ["10001", "10001", "01010", "00100", "01010", "10001", "10001"],
    ":": ["00000", "00100", "00100", "00000", "00100", "00100", "00000"],
    "/": ["00001", "00010", "00010", "00100", "01000", "01000", "10000"],
    "-": ["00000", "00000", "00000", "11111", "00000", "00000", "00000"],
    ".": ["00000", "00000", "00000", "00000", "00000", "01100", "01100"],
    " ": ["00000"] * 7,
}
CHARS = "".join(sorted(_FONT))


def code_text(rng: np.random.Generator) -> list[str]:
    """One or two lines of a production code: lot, best-before date, time, batch."""
    d, m, y = int(rng.integers(1, 29)), int(rng.integers(1, 13)), int(rng.integers(24, 31))
    hh, mm = int(rng.integers(0, 24)), int(rng.integers(0, 60))
    lot = "".join(str(int(x)) for x in rng.integers(0, 10, 5))
    first = [f"LOT {lot}", f"L{lot}", f"{d:02d}/{m:02d}/{y:02d}", f"EXP {m:02d}/{y:02d}"]
    second = [f"{hh:02d}:{mm:02d}", f"{d:02d}.{m:02d}.{y:02d}", f"B{lot[:3]}", f"PN {lot}"]
    lines = [first[int(rng.integers(len(first)))]]
    if rng.random() < 0.6:
        lines.append(second[int(rng.integers(len(second)))])
    return lines


def dots(lines: list[str], pitch: float) -> np.ndarray:
    """Centres (K, 2) of the printed dots of ``lines`` in metres: x along the text,
    y up, the block centred on the origin; ``pitch`` metres between dots."""
    out = []
    for row, line in enumerate(lines):
        for col, ch in enumerate(line):
            glyph = _FONT.get(ch.upper(), _FONT[" "])
            for gy, bits in enumerate(glyph):
                for gx, bit in enumerate(bits):
                    if bit == "1":
                        out.append((col * 6 + gx, -(row * 9 + gy)))
    if not out:
        return np.zeros((0, 2))
    pts = np.asarray(out, dtype=np.float64) * pitch
    return pts - (pts.min(0) + pts.max(0)) / 2


LETTERS = "ABCDEFLNOPSTX"
LOGO_KINDS = ("ring_bar", "triangle", "roundel", "wordmark")
"""Simple vector marks of a maker's logo (see :func:`logo_bitmap`)."""


def logo_bitmap(kind: str, rng: np.random.Generator, cells: int = 48) -> np.ndarray:
    """A logo as a bool bitmap (rows, cols), row 0 at the top, ``cells`` columns
    across its width: ``ring_bar`` (a ring crossed by a bar), ``triangle`` (an
    outlined triangle with a dot), ``roundel`` (a disc with a letter knocked out),
    ``wordmark`` (3-5 solid block letters of the 5x7 font, k x k cells per font
    pixel, k = max(1, cells // its width in font pixels): 7k rows, so its width
    need not be ``cells``). An unknown kind raises
    ValueError naming the valid ones."""
    n = cells
    y, x = (np.mgrid[0:n, 0:n] + 0.5) / n * 2 - 1  # [-1, 1], y down
    if kind == "ring_bar":
        r = np.hypot(x, y)
        ring = (r < 0.75) & (r > 0.75 - rng.uniform(0.15, 0.25))
        bar = (np.abs(y) < rng.uniform(0.08, 0.14)) & (np.abs(x) < rng.uniform(0.85, 1.0))
        return ring | bar
    if kind == "triangle":  # an outlined triangle, apex up, a dot at its centre
        up = -y

        def inside(r: float) -> np.ndarray:  # inradius r about the origin
            return (-up < r) & (0.866 * x + 0.5 * up < r) & (-0.866 * x + 0.5 * up < r)

        outline = inside(0.48) & ~inside(0.48 * rng.uniform(0.55, 0.7))
        return outline | (np.hypot(x, y) < 0.1)
    if kind == "roundel":  # a disc with a letter knocked out
        glyph = _FONT[str(rng.choice(list(LETTERS)))]
        bits = np.array([[c == "1" for c in row] for row in glyph])
        h = 1.1
        ix = np.floor((x / (h * 5 / 7) + 0.5) * 5).astype(int)
        iy = np.floor((y / h + 0.5) * 7).astype(int)
        ok = (ix >= 0) & (ix < 5) & (iy >= 0) & (iy < 7)
        knocked = np.zeros_like(ok)
        knocked[ok] = bits[iy[ok], ix[ok]]
        return (np.hypot(x, y) < 0.95) & ~knocked
    if kind == "wordmark":
        word = "".join(rng.choice(list(LETTERS), int(rng.integers(3, 6))))
        bits = np.concatenate(
            [
                np.pad(np.array([[c == "1" for c in row] for row in _FONT[ch]]), ((0, 0), (0, 1)))
                for ch in word
            ],
            axis=1,
        )[:, :-1]
        k = max(1, n // bits.shape[1])
        return np.kron(bits, np.ones((k, k), dtype=bool))
    raise ValueError(f"unknown logo kind {kind!r}; valid: {list(LOGO_KINDS)}")
