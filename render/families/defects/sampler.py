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
from typing import Any

import numpy as np

from render.families.base import Job
from render.families.common import (
    euler_xyz_to_matrix,
    integer,
    render_spec,
    uniform,
    weighted_choice,
)
from render.families.defects.assemblies import base_mesh
from render.families.defects.balance import MAX_DEFECT_SLOTS, defect_type, is_good
from render.families.defects.config import DefectsScene, ProductChoice
from render.families.defects.layout import (
    arrange,
    background,
    inspection_camera,
    moving_parts,
    qc_lights,
)
from render.families.defects.materials import load_presets, role, sample_material
from render.families.defects.parts import (
    camera_eye,
    defect_material,
    defect_params,
    edge_wear,
    nuisance_params,
    product_materials,
    to_local,
)
from render.families.defects.products import INTEGER_PARAMS, PARAM_SPACE, pcb_components
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
    cx, sx, cz, sz = math.cos(rx), math.sin(rx), math.cos(yaw), math.sin(yaw)
    r = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]]) @ np.array(
        [[1, 0, 0], [0, cx, -sx], [0, sx, cx]]
    )
    return [rx, 0.0, yaw], r, r.T @ np.array([0.0, 0.0, 1.0])


# --------------------------------------------------------------------------- sampling


def sample_defects(cfg: Job, scene_index: int) -> SceneSpec:
    """Every random choice of scene ``scene_index`` of a ``family: defects`` config."""
    sc = cfg.scene
    if not isinstance(sc, DefectsScene):
        raise ValueError(f"sample_defects needs scene.family 'defects', got {sc.family!r}")
    presets = load_presets(sc.materials_dir)
    width, height = cfg.render.resolution
    r_cam = stream(cfg.seed, scene_index, "camera")
    cam = sc.camera
    focal = uniform(r_cam, cam.focal_length_mm)
    fov = uniform(r_cam, cam.field_of_view_mm) / 1000

    r_bg = stream(cfg.seed, scene_index, "background")
    r_mat = stream(cfg.seed, scene_index, "materials")
    r_light = stream(cfg.seed, scene_index, "lights")
    preset = weighted_choice(r_light, sc.lighting.presets)
    bg_kind = "table" if preset == "back" else weighted_choice(r_bg, sc.background.kinds)

    # 1) products, then an arrangement (the area grows until they all fit)
    r_prod = stream(cfg.seed, scene_index, "products")
    r_def = stream(cfg.seed, scene_index, "defects")
    weights = np.array([p.weight for p in sc.products])
    items = []
    for _ in range(integer(r_prod, sc.products_per_image)):
        choice = sc.products[int(r_prod.choice(len(sc.products), p=weights / weights.sum()))]
        product = _product_params(choice, r_prod)
        rot_euler, rot, facing = _rotation(choice.pose, uniform(r_prod, (0.0, 2 * math.pi)))
        verts = base_mesh(product).vertices @ rot.T
        lo, hi = verts.min(0), verts.max(0)
        items.append((choice, product, rot_euler, facing, lo, hi))
    spots, area = arrange(
        [float(np.linalg.norm(h[:2] - lo[:2]) / 2) for *_, lo, h in items],
        [float(h[2] - lo[2]) for *_, lo, h in items],
        0.4 * fov,
        0.5 * cam.field_of_view_mm[1] / 1000,
        bg_kind == "tray",
        sc.allow_overlap,
        r_prod,
    )

    # 2) the camera frames the arrangement; the narrowest decal follows from it
    centre = np.mean([xy for xy, _, _ in spots], axis=0)
    reach = max(float(np.linalg.norm(xy - centre)) + r for xy, r, _ in spots)
    fov = min(max(fov, 2.3 * reach), 1.2 * cam.field_of_view_mm[1] / 1000)  # may crop a product
    wd_lo, wd_hi = (x / 1000 for x in cam.working_distance_mm)
    distance = min(max(fov * focal / cam.sensor_width_mm, wd_lo), wd_hi)
    fov = distance * cam.sensor_width_mm / focal
    kinds = [k for k, w in cam.views.items() if w > 0]
    min_elev = (
        90.0 - cam.top_down_tilt_deg if kinds == ["top_down"] else cam.oblique_elevation_deg[0]
    )
    # min_width_px at the farthest point (+25 %) of the most oblique view
    min_width = sc.min_defect_width_px * 1.25 * fov / width / math.sin(math.radians(min_elev))
    objects, support = background(sc, bg_kind, fov, area, preset, presets, r_bg, r_mat)
    # camera and lights first: glints mirror a light into the camera
    target = np.array([centre[0], centre[1], support])
    camera = inspection_camera(
        sc, width, height, focal, distance, target, r_cam, cfg.render.views_per_scene
    )
    lights, world = qc_lights(sc, preset, distance, target, r_light)
    r_nui = stream(cfg.seed, scene_index, "nuisances")
    r_wear = stream(cfg.seed, scene_index, "edge_wear")

    # 3) products, their defects, nuisances and components
    next_id = 1
    for j, ((choice, product, rot_euler, facing, lo, hi), spot) in enumerate(
        zip(items, spots + [None] * (len(items) - len(spots)), strict=True)
    ):
        if spot is None:
            continue
        xy, _, z0 = spot
        z0 += support
        centre_off = (lo[:2] + hi[:2]) / 2
        location = [float(xy[0] - centre_off[0]), float(xy[1] - centre_off[1]), float(z0 - lo[2])]
        extent = float(np.sort(hi - lo)[1])  # middle dimension: the visible face's smaller side
        name, body, second = product_materials(choice, presets, r_mat)
        wear = edge_wear(choice.edge_wear or sc.edge_wear, presets, name, body, r_wear)
        brittle = bool(role(presets, name, "brittle"))
        good = is_good(sc, cfg.seed, scene_index, j, r_def)
        n_def = 0 if good else integer(r_def, sc.defects_per_product)
        defects = [
            defect_params(
                sc,
                defect_type(sc, cfg.seed, scene_index, j * MAX_DEFECT_SLOTS + k, r_def),
                extent,
                r_def,
                fov / width,
                brittle,
            )
            for k in range(min(n_def, MAX_DEFECT_SLOTS))
        ]
        rot = euler_xyz_to_matrix(rot_euler)
        glint_to = (
            (
                to_local(lights[int(r_nui.integers(len(lights)))].location, location, rot),
                to_local(camera_eye(camera.poses[0]), location, rot),
            )
            if lights
            else None
        )
        extra = nuisance_params(sc, choice.family, r_nui, presets, glint_to)
        params = {
            "product": product,
            "facing": facing.round(9).tolist(),
            "min_width": min_width,
            "defects": defects,
            "nuisances": [n for n, _ in extra],
        }
        if wear is not None:  # the product part gets its `edge` attribute (the widest band)
            params["edge_wear"] = round(wear.width * (1 + wear.breakup), 6)
        pid = next_id
        next_id += 1

        def geo(part: str, params: dict[str, Any] = params) -> GeometrySpec:
            return GeometrySpec(
                kind="procedural", generator="product_with_defects", params=params, part=part
            )

        pose = {"location": location, "rotation_euler": rot_euler}
        worn = body if wear is None else body.model_copy(update={"wear": wear})
        objects.append(
            ObjectSpec(
                name=f"product_{j}",
                instance_id=pid,
                category_id=cfg.category_id(choice.category),
                geometry=geo("product"),
                material=worn,
                # its secondary surface wears too where it is the body's (a plate's chamfers)
                material_slots=[worn if second is body else second],
                info=ProductInfo(family=choice.family, good=good, defects=len(defects)),
                **pose,
            )
        )
        seen = {"min_pixels": sc.min_defect_pixels, "min_contrast": sc.min_defect_contrast or None}
        for k, d in enumerate(defects):
            dc = sc.defects[d["type"]]
            mat, variant, walls = defect_material(sc, d["type"], name, body, presets, r_mat)
            slots = [second] if d["type"] != "chip" and d["type"] != "stain" else []
            objects.append(
                ObjectSpec(
                    name=f"product_{j}_defect_{k}",
                    instance_id=next_id,
                    category_id=cfg.category_id(dc.category),
                    parent_id=pid,
                    geometry=geo(f"defect_{k}"),
                    material=mat,
                    material_slots=slots + ([walls] if walls is not None else []),
                    info=DefectInfo(type=d["type"], variant=d.get("variant", variant)),
                    **seen,
                    **pose,
                )
            )
            next_id += 1
        for k, (n, own) in enumerate(extra):
            nc = sc.nuisances[n["type"]]
            # a tool mark burnishes a little: only slightly glossier than the part
            polished = body.model_copy(update={"roughness": body.roughness * 0.85})
            objects.append(
                ObjectSpec(
                    name=f"product_{j}_nuisance_{k}",
                    instance_id=next_id,
                    category_id=cfg.category_id(nc.category) if nc.category else 0,
                    parent_id=pid,
                    geometry=geo(f"nuisance_{k}"),
                    material=body if own is None else own,
                    material_slots=[second, polished] if own is None else [],
                    annotate=nc.category is not None,
                    info=NuisanceInfo(type=n["type"]),
                    **seen,
                    **pose,
                )
            )
            next_id += 1
        if choice.family == "pcb":
            for k in range(len(pcb_components(product, int(product["seed"]))[1])):
                objects.append(
                    ObjectSpec(
                        name=f"product_{j}_component_{k}",
                        instance_id=next_id,
                        category_id=cfg.category_id("component"),
                        parent_id=pid,
                        geometry=geo(f"component_{k}"),
                        material=sample_material(presets, "ic_package", r_mat),
                        **pose,
                    )
                )
                next_id += 1

    if camera.motion_blur > 0:
        objects = moving_parts(
            objects, camera.motion_blur, fov / width, sc, stream(cfg.seed, scene_index, "motion")
        )
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
            "distance_m": distance,
            "field_of_view_m": fov,
            "min_defect_width_m": min_width,
        },
    )
