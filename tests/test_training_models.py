"""The detectors themselves, without data: every architecture builds with nothing
downloaded, ``fine_stride`` adds the FPN levels it names, and the learning-rate
schedule has the shape its recipe asks for."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from render.training.recipe import TrainConfig

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Any:
    """One torch thread: a second thread spinning on a shared 2-core machine slows
    these small models down many times over."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_models_are_built_without_downloading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every architecture and backbone builds with no network and nothing written to
    TORCH_HOME (torchvision would download pretrained weights there)."""
    import torch.hub

    from render.training.models import build_model
    from render.training.recipe import ModelConfig

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"download attempted: {args[:1]}")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    for arch in ("faster_rcnn", "mask_rcnn", "keypoint_rcnn"):
        for backbone in ("mobilenet_v3_large_fpn", "resnet50_fpn"):
            cfg = ModelConfig(arch=arch, backbone=backbone)  # type: ignore[arg-type]
            model = build_model(cfg, 3, 17)
            assert model.roi_heads.box_predictor.cls_score.out_features == 3
    assert not (tmp_path / "torch_home").exists()


def test_fine_stride_adds_finer_fpn_levels() -> None:
    """torchvision's MobileNetV3 FPN has nothing finer than 1/32 of the image (a
    20 px person is under a cell); fine_stride 16, 8 and 4 add levels at 1/16, 1/8
    and 1/4, each with the anchors, and the detector still runs end to end."""
    import torch

    from render.training.models import build_backbone, build_model
    from render.training.recipe import ModelConfig

    image = torch.zeros(1, 3, 128, 192)
    for stride, levels in ((32, [32, 32, 64]), (16, [16, 32, 64]), (8, [8, 16, 32, 64]),
                           (4, [4, 8, 16, 32, 64])):  # fmt: skip
        cfg = ModelConfig(fine_stride=stride, min_size=128, max_size=192)  # type: ignore[arg-type]
        maps = build_backbone(cfg)(image)
        assert [128 // m.shape[-2] for m in maps.values()] == levels, (stride, maps.keys())
        assert [192 // m.shape[-1] for m in maps.values()] == levels
        model = build_model(cfg, 2).eval()
        with torch.no_grad():
            (out,) = model([image[0]])
        assert out["boxes"].shape[1] == 4
        model.train()
        target = {"boxes": torch.tensor([[10.0, 20.0, 18.0, 60.0]]), "labels": torch.tensor([1])}
        losses = model([image[0]], [target])
        assert all(torch.isfinite(v) for v in losses.values())
    with pytest.raises(ValueError, match="fine_stride: only for mobilenet_v3_large_fpn"):
        ModelConfig(backbone="resnet50_fpn", fine_stride=8)


def test_learning_rate_schedule() -> None:
    from render.training.loop import lr_factor

    cfg = TrainConfig(warmup_steps=10, schedule="cosine")
    assert lr_factor(0, cfg, 100) == pytest.approx(0.001)
    assert lr_factor(10, cfg, 100) == pytest.approx(1.0)
    assert lr_factor(55, cfg, 100) == pytest.approx(0.5)
    assert lr_factor(100, cfg, 100) == pytest.approx(0.0, abs=1e-12)
    step = TrainConfig(warmup_steps=0, schedule="step", milestones=[0.5, 0.75], gamma=0.1)
    assert [lr_factor(s, step, 100) for s in (0, 49, 50, 75, 99)] == pytest.approx(
        [1, 1, 0.1, 0.01, 0.01]
    )


def test_group_norm_normalises_each_image_on_its_own() -> None:
    """``model.norm: group`` swaps every BatchNorm of the backbone for GroupNorm (at
    most 32 groups, fewer where a layer has fewer channels), so in training an image's
    features no longer depend on the other image of its batch of 2, as they do with
    BatchNorm; the detector still trains end to end."""
    import torch
    from torch import nn

    from render.training.models import build_backbone, build_model
    from render.training.recipe import ModelConfig

    torch.manual_seed(0)
    a, b = torch.rand(1, 3, 128, 128), torch.rand(1, 3, 128, 128) * 3
    for norm, independent in (("batch", False), ("group", True)):
        cfg = ModelConfig(norm=norm, fine_stride=8, min_size=128, max_size=128)  # type: ignore[arg-type]
        backbone = build_backbone(cfg).train()
        kinds = {type(m) for m in backbone.modules()}
        assert (nn.BatchNorm2d in kinds) is (norm == "batch")
        assert (nn.GroupNorm in kinds) is (norm == "group")
        for m in backbone.modules():
            if isinstance(m, nn.GroupNorm):
                assert m.num_channels % m.num_groups == 0 and m.num_groups <= 32
        alone = backbone(a)["0"]
        batched = backbone(torch.cat([a, b]))["0"][:1]
        assert torch.allclose(alone, batched, atol=1e-5) is independent, norm
    model = build_model(ModelConfig(norm="group", min_size=128, max_size=128), 2).train()
    target = {"boxes": torch.tensor([[10.0, 20.0, 18.0, 60.0]]), "labels": torch.tensor([1])}
    losses = model([a[0], b[0]], [target, target])
    assert all(torch.isfinite(v) for v in losses.values())


def test_every_recipe_key_is_in_the_training_docs() -> None:
    """docs/training.md's "Recipe keys" table names every key a recipe has, and no key
    it does not have, so a new knob (``model.norm``) cannot ship undocumented."""
    import re

    from pydantic import BaseModel

    from render.training.recipe import CropsConfig, Recipe

    def keys(model: type[BaseModel], prefix: str) -> set[str]:
        out: set[str] = set()
        for name, field in model.model_fields.items():
            out.add(prefix + name)
            if name == "crops":
                out |= keys(CropsConfig, f"{prefix}{name}.")
            elif isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
                out |= keys(field.annotation, f"{prefix}{name}.")
                out.discard(prefix + name)
        return out

    text = (Path(__file__).resolve().parents[1] / "docs" / "training.md").read_text()
    table = text.split("### Recipe keys", 1)[1].split("\n\n", 2)[1]
    documented = set(re.findall(r"^\| `([a-z_.]+)` \|", table, flags=re.M))
    assert documented == keys(Recipe, "")
