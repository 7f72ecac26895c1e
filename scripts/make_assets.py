"""Generate the small demo meshes shipped in ``assets/meshes/`` (OBJ, metres, Z up).

Usage: ``python scripts/make_assets.py [--out assets/meshes]``. The output is
deterministic (no randomness), so re-running it reproduces the committed files.
Each mesh is centred on its bounding box, watertight, and below 300 KB.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import trimesh

MAX_BYTES = 300_000


def torus() -> trimesh.Trimesh:
    """A ring: major radius 0.05 m, tube radius 0.02 m (outer diameter 0.14 m)."""
    return trimesh.creation.torus(
        major_radius=0.05, minor_radius=0.02, major_sections=48, minor_sections=24
    )


def bottle() -> trimesh.Trimesh:
    """A bottle revolved around Z: body, shoulder, neck and lip; 0.25 m tall."""
    profile = [
        (0.0, 0.0),
        (0.035, 0.0),
        (0.04, 0.005),
        (0.04, 0.15),
        (0.032, 0.18),
        (0.014, 0.2),
        (0.012, 0.23),
        (0.015, 0.235),
        (0.015, 0.25),
        (0.0, 0.25),
    ]
    mesh = trimesh.creation.revolve(np.array(profile), sections=48)
    mesh.apply_translation(-mesh.bounds.mean(axis=0))
    return mesh


def gear(teeth: int = 12) -> trimesh.Trimesh:
    """A spur gear extruded along Z: tip radius 0.06 m, 0.02 m thick, 0.015 m bore.

    Built as a ring of quads between the toothed outline and the bore at the same
    angles (both are star-shaped about the axis), plus the outer and inner walls."""
    r_root, r_tip, r_bore, half = 0.048, 0.06, 0.015, 0.01
    angles, radii = [], []
    for k in range(teeth):
        for frac, r in ((0.0, r_root), (0.2, r_tip), (0.5, r_tip), (0.7, r_root)):
            angles.append(2 * math.pi * (k + frac) / teeth)
            radii.append(r)
    a = np.array(angles)
    m = len(a)
    ring = []
    for r, z in (
        (np.array(radii), -half),
        (np.array(radii), half),
        (r_bore, -half),
        (r_bore, half),
    ):
        ring.append(np.stack([r * np.cos(a), r * np.sin(a), np.full(m, z)], axis=1))
    vertices = np.concatenate(ring)
    ob, ot, ib, it = (np.arange(m) + i * m for i in range(4))
    nxt = np.roll(np.arange(m), -1)
    quads = []
    for k in range(m):
        n = nxt[k]
        quads += [
            (it[k], ot[k], ot[n], it[n]),  # top, +Z
            (ib[k], ib[n], ob[n], ob[k]),  # bottom, -Z
            (ob[k], ob[n], ot[n], ot[k]),  # outer wall
            (ib[k], it[k], it[n], ib[n]),  # bore wall
        ]
    faces = np.array([t for q in quads for t in ((q[0], q[1], q[2]), (q[0], q[2], q[3]))])
    mesh = trimesh.Trimesh(vertices, faces, process=True)
    if mesh.volume < 0:
        mesh.invert()
    return mesh


MESHES = {"torus": torus, "bottle": bottle, "gear": gear}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "assets" / "meshes"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, build in MESHES.items():
        mesh = build()
        if not mesh.is_watertight:
            print(f"make_assets: {name} is not watertight", file=sys.stderr)
            return 1
        path = args.out / f"{name}.obj"
        text = trimesh.exchange.obj.export_obj(
            mesh, include_normals=False, include_texture=False, digits=6, header=None
        )
        path.write_text(text, encoding="utf-8")
        size = path.stat().st_size
        if size > MAX_BYTES:
            print(f"make_assets: {path} is {size} bytes (> {MAX_BYTES})", file=sys.stderr)
            return 1
        ext = mesh.extents
        print(
            f"{path}: {len(mesh.vertices)} vertices, {len(mesh.faces)} faces, "
            f"extents {ext[0]:.3f} x {ext[1]:.3f} x {ext[2]:.3f} m, {size} bytes"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
