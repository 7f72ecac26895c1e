"""Defective-product family: config + scene index -> SceneSpec (pure Python).

A scene is an inspection background (conveyor, table, tray) with 1..N products,
each good or carrying 1..K defects, lit by a QC preset (ring, dome, raking, back
light + ambient) and seen by a machine-vision camera (top-down or oblique); see
``layout.py`` for the set-up and ``balance.py`` for class balance.

Each product is ONE procedural generator call ``product_with_defects``
(``assemblies.py``) whose parts share a local frame: the SceneSpec has one
ObjectSpec per part at the same pose, the product annotated with its category,
each defect with its own category and ``parent_id`` = the product.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from render.families.base import Job
from render.families.common import integer, render_spec, uniform, weighted_choice
from render.families.defects.balance import MAX_DEFECT_SLOTS, defect_type, is_good
from render.families.defects.config import DefectsScene, ProductChoice
from render.families.defects.geometry.assemblies import base_mesh
from render.families.defects.geometry.products import INTEGER_PARAMS, PARAM_SPACE, pcb_components
from render.families.defects.layout import (
    arrange,
    background,
    inspection_camera,
    moving_parts,
    qc_lights,
)
from render.families.defects.materials import load_presets, role, sample_material
from render.families.defects.optics import focal_range
from render.families.defects.parts import (
    camera_eye,
    defect_material,
    defect_params,
    edge_wear,
    nuisance_params,
    product_materials,
    to_local,
)
from render.families.defects.qc_config import SEE_THROUGH
from render.families.defects.tiling import scene_tiles
from render.geometry.rotations import euler_xyz_to_matrix, rot_x, rot_z
from render.seeding import stream
from render.spec import (
    DefectInfo,
    GeometrySpec,
    NuisanceInfo,
    ObjectSpec,
    ProductInfo,
    SceneSpec,
)

# --------------------------------------------------------------------------- products


def _product_params(choice: ProductChoice, rng: np.random.Generator) -> dict[str, Any]:
    if choice.family == "mesh":
        size = uniform(rng, choice.size_mm) / 1000 if choice.size_mm else None
        return {
            "family": "mesh",
            "path": choice.mesh,
            "unit_scale": choice.unit_scale,
            "up_axis": choice.up_axis,
            "size": size,
        }
    out: dict[str, Any] = {"family": choice.family}
    for key, default in PARAM_SPACE[choice.family].items():
        value = uniform(rng, choice.params.get(key, default))
        if key in INTEGER_PARAMS:
            value = int(round(value))
        if key == "holes":
            value = min(6, 2 * (int(value) // 2))
        out[key] = value
    if choice.family == "pcb":
        out["seed"] = int(rng.integers(0, 2**31 - 1))
    return out


def _rotation(pose: str, yaw: float) -> tuple[list[float], np.ndarray, np.ndarray]:
    """Euler XYZ, 3x3 matrix, and the local direction that faces world +Z."""
    rx = math.pi / 2 if pose == "side" else 0.0
    r = rot_z(yaw) @ rot_x(rx)
    return [rx, 0.0, yaw], r, r.T @ np.array([0.0, 0.0, 1.0])


# --------------------------------------------------------------------------- stages


@dataclass(frozen=True)
class _Item:
    """A drawn product before it is placed: its choice and params, its rotation
    (Euler XYZ), the local direction facing world +Z, its rotated extent (lo, hi)."""

    choice: ProductChoice
    product: dict[str, Any]
    rot_euler: list[float]
    facing: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


def _draw_products(sc: DefectsScene, rng: np.random.Generator) -> list[_Item]:
    """Stage 1: which products, their params and rotations (stream ``products``)."""
    weights = np.array([p.weight for p in sc.products])
    items = []
    for _ in range(integer(rng, sc.products_per_image)):
        choice = sc.products[int(rng.choice(len(sc.products), p=weights / weights.sum()))]
        product = _product_params(choice, rng)
        rot_euler, rot, facing = _rotation(choice.pose, uniform(rng, (0.0, 2 * math.pi)))
        verts = base_mesh(product).vertices @ rot.T
        items.append(_Item(choice, product, rot_euler, facing, verts.min(0), verts.max(0)))
    return items


@dataclass(frozen=True)
class _Framing:
    """Stage 2: the camera frames the arrangement (metres): the look-at ``centre``
    (x, y), working ``distance``, field of view ``fov`` and the narrowest decal
    width ``min_width`` that still spans ``min_defect_width_px`` pixels."""

    centre: np.ndarray
    distance: float
    fov: float
    min_width: float


def _frame(
    sc: DefectsScene, spots: list[Any], fov: float, focal: float, width: int, sensor_w: float
) -> _Framing:
    """Without optics the field of view grows to take in the arrangement (up to
    1.2x the largest configured) and the distance follows within the working
    distances; with optics both are fixed by the set-up."""
    cam = sc.camera
    centre = np.mean([xy for xy, _, _ in spots], axis=0)
    if cam.optics is not None:
        distance = fov * focal / sensor_w
    else:
        reach = max(float(np.linalg.norm(xy - centre)) + r for xy, r, _ in spots)
        fov = min(max(fov, 2.3 * reach), 1.2 * cam.field_of_view_mm[1] / 1000)  # may crop one
        wd_lo, wd_hi = (x / 1000 for x in cam.working_distance_mm)
        distance = min(max(fov * focal / sensor_w, wd_lo), wd_hi)
        fov = distance * sensor_w / focal
    kinds = [k for k, w in cam.views.items() if w > 0]
    min_elev = (
        90.0 - cam.top_down_tilt_deg if kinds == ["top_down"] else cam.oblique_elevation_deg[0]
    )
    # min_width_px at the farthest point (+25 %) of the most oblique view
    min_width = sc.min_defect_width_px * 1.25 * fov / width / math.sin(math.radians(min_elev))
    return _Framing(centre, distance, fov, min_width)


@dataclass
class _Scene:
    """What stage 3 (one product at a time) reads and appends to."""

    cfg: Job
    sc: DefectsScene
    scene_index: int
    presets: dict[str, dict[str, Any]]
    framing: _Framing
    width: int
    lights: list[Any]
    camera: Any
    r_mat: np.random.Generator
    r_def: np.random.Generator
    r_nui: np.random.Generator
    r_wear: np.random.Generator
    objects: list[ObjectSpec]
    next_id: int = 1

    def add(self, **fields: Any) -> int:
        """Append one ObjectSpec with the next instance id; returns the id."""
        iid = self.next_id
        self.objects.append(ObjectSpec(instance_id=iid, **fields))
        self.next_id += 1
        return iid


def _draw_defects(
    s: _Scene, j: int, item: _Item, extent: float, brittle: bool
) -> tuple[bool, list[dict[str, Any]]]:
    """Whether product ``j`` is good, and its defects' generator params (``defects``)."""
    sc, cfg = s.sc, s.cfg
    good = is_good(sc, cfg.seed, s.scene_index, j, s.r_def)
    n_def = 0 if good else integer(s.r_def, sc.defects_per_product)
    return good, [
        defect_params(
            sc,
            defect_type(sc, cfg.seed, s.scene_index, j * MAX_DEFECT_SLOTS + k, s.r_def),
            extent,
            s.r_def,
            s.framing.fov / s.width,
            brittle,
        )
        for k in range(min(n_def, MAX_DEFECT_SLOTS))
    ]


def _place_product(s: _Scene, j: int, item: _Item, spot: Any, support: float) -> np.ndarray:
    """Stage 3: product ``j`` at ``spot`` with its defects, nuisances and components.
    Returns the 8 world corners (8, 3) of its box (for the tiles)."""
    sc, cfg = s.sc, s.cfg
    choice, product, rot_euler = item.choice, item.product, item.rot_euler
    lo, hi = item.lo, item.hi
    xy, _, z0 = spot
    z0 += support
    centre_off = (lo[:2] + hi[:2]) / 2
    location = [float(xy[0] - centre_off[0]), float(xy[1] - centre_off[1]), float(z0 - lo[2])]
    extent = float(np.sort(hi - lo)[1])  # middle dimension: the visible face's smaller side
    name, body, second = product_materials(choice, s.presets, s.r_mat)
    wear = edge_wear(choice.edge_wear or sc.edge_wear, s.presets, name, body, s.r_wear)
    good, defects = _draw_defects(s, j, item, extent, bool(role(s.presets, name, "brittle")))
    rot = euler_xyz_to_matrix(rot_euler)
    glint_to = (
        (
            to_local(s.lights[int(s.r_nui.integers(len(s.lights)))].location, location, rot),
            to_local(camera_eye(s.camera.poses[0]), location, rot),
        )
        if s.lights
        else None
    )
    extra = nuisance_params(sc, choice.family, s.r_nui, s.presets, glint_to)
    params = {
        "product": product,
        "facing": item.facing.round(9).tolist(),
        "min_width": s.framing.min_width,
        "defects": defects,
        "nuisances": [n for n, _ in extra],
    }
    if wear is not None:  # the product part gets its `edge` attribute (the widest band)
        params["edge_wear"] = round(wear.width * (1 + wear.breakup), 6)

    def geo(part: str) -> GeometrySpec:
        return GeometrySpec(
            kind="procedural", generator="product_with_defects", params=params, part=part
        )

    pose = {"location": location, "rotation_euler": rot_euler}
    worn = body if wear is None else body.model_copy(update={"wear": wear})
    pid = s.add(
        name=f"product_{j}",
        category_id=cfg.category_id(choice.category),
        geometry=geo("product"),
        material=worn,
        # its secondary surface wears too where it is the body's (a plate's chamfers)
        material_slots=[worn if second is body else second],
        info=ProductInfo(family=choice.family, good=good, defects=len(defects)),
        **pose,
    )
    seen = {"min_pixels": sc.min_defect_pixels, "min_contrast": sc.min_defect_contrast or None}
    for k, d in enumerate(defects):
        dc = sc.defects[d["type"]]
        mat, variant, walls = defect_material(sc, d["type"], name, body, s.presets, s.r_mat)
        slots = [second] if d["type"] != "chip" and d["type"] != "stain" else []
        s.add(
            name=f"product_{j}_defect_{k}",
            category_id=cfg.category_id(dc.category),
            parent_id=pid,
            geometry=geo(f"defect_{k}"),
            material=mat,
            material_slots=slots + ([walls] if walls is not None else []),
            info=DefectInfo(type=d["type"], variant=d.get("variant", variant)),
            **seen,
            **pose,
        )
    for k, (n, own) in enumerate(extra):
        nc = sc.nuisances[n["type"]]
        # a tool mark burnishes a little: only slightly glossier than the part
        polished = body.model_copy(update={"roughness": body.roughness * 0.85})
        s.add(
            name=f"product_{j}_nuisance_{k}",
            category_id=cfg.category_id(nc.category) if nc.category else 0,
            parent_id=pid,
            geometry=geo(f"nuisance_{k}"),
            material=body if own is None else own,
            material_slots=[second, polished] if own is None else [],
            annotate=nc.category is not None,
            see_through=n["type"] in SEE_THROUGH,
            info=NuisanceInfo(type=n["type"]),
            **seen,
            **pose,
        )
    if choice.family == "pcb":
        for k in range(len(pcb_components(product, int(product["seed"]))[1])):
            s.add(
                name=f"product_{j}_component_{k}",
                category_id=cfg.category_id("component"),
                parent_id=pid,
                geometry=geo(f"component_{k}"),
                material=sample_material(s.presets, "ic_package", s.r_mat),
                **pose,
            )
    box = [(lo[0], hi[0]), (lo[1], hi[1]), (lo[2], hi[2])]
    corners = np.array([[x, y, z] for x in box[0] for y in box[1] for z in box[2]])
    return corners + np.asarray(location)


# --------------------------------------------------------------------------- sampling


def sample_defects(cfg: Job, scene_index: int) -> SceneSpec:
    """Every random choice of scene ``scene_index`` of a ``family: defects`` config,
    stage by stage, each stage from its own named streams: the products, their
    arrangement, the camera framing it, background and lights, then each product
    with its defects, nuisances and components."""
    sc = cfg.scene
    if not isinstance(sc, DefectsScene):
        raise ValueError(f"sample_defects needs scene.family 'defects', got {sc.family!r}")
    presets = load_presets(sc.materials_dir)
    width, height = cfg.render.resolution
    r_cam = stream(cfg.seed, scene_index, "camera")
    cam = sc.camera
    if cam.optics is None:
        focal = uniform(r_cam, cam.focal_length_mm)
        fov = uniform(r_cam, cam.field_of_view_mm) / 1000
        sensor_w, max_fov = cam.sensor_width_mm, cam.field_of_view_mm[1] / 1000
    else:  # the set-up fixes the image size, field of view and (with the lens) distance
        width, height, pixel_um = cam.optics.sensor_px()
        lens = focal_range(cam.optics, cam.focal_length_mm, cam.working_distance_mm)
        focal = uniform(r_cam, lens)
        fov = width * cam.optics.mm_per_px / 1000
        sensor_w, max_fov = width * pixel_um / 1000, fov

    r_bg = stream(cfg.seed, scene_index, "background")
    r_mat = stream(cfg.seed, scene_index, "materials")
    r_light = stream(cfg.seed, scene_index, "lights")
    preset = weighted_choice(r_light, sc.lighting.presets)
    bg_kind = "table" if preset == "back" else weighted_choice(r_bg, sc.background.kinds)

    # 1) products, then an arrangement (the area grows until they all fit)
    r_prod = stream(cfg.seed, scene_index, "products")
    items = _draw_products(sc, r_prod)
    spots, area = arrange(
        [float(np.linalg.norm(it.hi[:2] - it.lo[:2]) / 2) for it in items],
        [float(it.hi[2] - it.lo[2]) for it in items],
        0.4 * fov,
        0.5 * max_fov,
        bg_kind == "tray",
        sc.allow_overlap,
        r_prod,
    )

    # 2) the camera frames the arrangement; the narrowest decal follows from it
    framing = _frame(sc, spots, fov, focal, width, sensor_w)
    objects, support = background(sc, bg_kind, framing.fov, area, preset, presets, r_bg, r_mat)
    # camera and lights first: glints mirror a light into the camera
    target = np.array([framing.centre[0], framing.centre[1], support])
    camera = inspection_camera(
        sc, width, height, focal, framing.distance, target, r_cam, cfg.render.views_per_scene,
        sensor_w, framing.fov * 1000 / width,
    )  # fmt: skip
    lights, world = qc_lights(sc, preset, framing.distance, target, r_light)

    # 3) products, their defects, nuisances and components
    scene = _Scene(
        cfg, sc, scene_index, presets, framing, width, lights, camera, r_mat,
        stream(cfg.seed, scene_index, "defects"), stream(cfg.seed, scene_index, "nuisances"),
        stream(cfg.seed, scene_index, "edge_wear"), objects,
    )  # fmt: skip
    corners: list[np.ndarray] = []
    for j, (item, spot) in enumerate(zip(items, spots + [None] * (len(items) - len(spots)), strict=True)):  # fmt: skip
        if spot is not None:
            corners.append(_place_product(scene, j, item, spot, support))
    if cam.tiles.enabled:
        r_tiles = stream(cfg.seed, scene_index, "tiles")
        tiles = scene_tiles(sc, camera, corners, scene.objects, r_tiles)
        camera = camera.model_copy(update={"tiles": tiles})

    objects = scene.objects
    if camera.motion_blur > 0:
        objects = moving_parts(
            objects, camera.motion_blur, framing.fov / width, sc,
            stream(cfg.seed, scene_index, "motion"),
        )  # fmt: skip
    return SceneSpec(
        family="defects",
        scene_index=scene_index,
        seed=cfg.seed,
        objects=objects,
        lights=lights,
        world=world,
        camera=camera,
        render=render_spec(cfg, scene_index),
        meta={
            "lighting": preset,
            "background": bg_kind,
            "focal_mm": focal,
            "distance_m": framing.distance,
            "field_of_view_m": framing.fov,
            "min_defect_width_m": framing.min_width,
        },
    )
