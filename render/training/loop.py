"""``synthcv train``: train a torchvision detector from a recipe.

``OUT/`` gets ``recipe.yaml`` (the resolved recipe), ``metrics.jsonl`` (one JSON
object per line: ``train`` every ``log_every`` steps with the losses, learning rate,
images/s and the data vs model time per step; ``epoch`` at each epoch's end;
``eval`` after COCOeval on the validation images), ``checkpoints/last.pt`` (the
whole state, for ``--resume``), ``model.pt`` (final weights, for ``synthcv
evaluate`` and ``--init``) and ``train.json`` (the summary).

Resuming continues the same steps: the data order of epoch ``e`` is a permutation
seeded by ``(seed, e)``, the augmentation of item ``i`` in epoch ``e`` depends only
on ``(augment seed, image id, e)``, and the checkpoint holds the optimizer and
torch's random state; a checkpoint taken mid-epoch resumes at the next batch.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from render.atomic import atomic_write_text
from render.errors import UserError
from render.machine import check_memory
from render.outputs import OutputLock, claim, write_marker
from render.progress import Progress
from render.training import checkpoint as ckpt_io
from render.training.data import build_datasets, model_target
from render.training.recipe import (
    Recipe,
    TrainConfig,
    memory_estimate,
    recipe_difference,
    resume_changes,
)
from render.training.stats import StepTimes, versions

OUT_ENTRIES = ("recipe.yaml", "metrics.jsonl", "train.json", "model.pt", "checkpoints")
"""What ``synthcv train`` writes in OUT (``--overwrite`` removes these only)."""


class TrainingError(UserError):
    """Training cannot go on (a loss became NaN or infinite)."""


def out_of_memory(exc: RuntimeError, fix: str) -> BaseException:
    """A one-line UserError for torch's out-of-memory errors (the CPU allocator's
    "can't allocate memory", CUDA's OutOfMemoryError); ``exc`` itself otherwise."""
    text = str(exc)
    if "can't allocate memory" in text or "out of memory" in text.lower():
        first = text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__
        return UserError(f"out of memory ({first}); {fix}")
    return exc


def lr_factor(step: int, cfg: TrainConfig, total_steps: int) -> float:
    """Multiplier of ``cfg.lr`` at optimizer step ``step`` (0-based): linear warm-up
    from 1/1000, then cosine to 0, steps of ``gamma`` at ``milestones``, or constant."""
    if step < cfg.warmup_steps:
        a = step / cfg.warmup_steps
        return 0.001 * (1 - a) + a
    if cfg.schedule == "constant":
        return 1.0
    if cfg.schedule == "step":
        return float(cfg.gamma ** sum(step >= m * total_steps for m in cfg.milestones))
    t = min((step - cfg.warmup_steps) / max(total_steps - cfg.warmup_steps, 1), 1.0)
    return 0.5 * (1.0 + math.cos(math.pi * t))


class EpochOrder:
    """``DataLoader`` sampler: the item order of epoch ``epoch`` (a permutation that
    depends only on ``(seed, epoch)``) from position ``start`` on."""

    def __init__(self, n: int, seed: int, epoch: int, start: int = 0):
        rng = np.random.default_rng(np.random.SeedSequence([seed, epoch, 0x5A3]))
        self.order = [int(i) for i in rng.permutation(n)[start:]]

    def __iter__(self) -> Any:
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)


@dataclass
class TrainResult:
    out: Path
    step: int
    total_steps: int
    summary: dict[str, Any]


def prepare_out(out: Path, *, resume: bool, overwrite: bool, source: Path | None = None) -> None:
    """``out`` must be new or empty, unless resuming (then it holds a checkpoint) or
    overwriting (then what a previous ``synthcv train`` wrote there is removed, and
    nothing else: :mod:`render.outputs`). ``source``: the recipe file, which must
    not be one of the files the run writes. The caller holds ``out``'s lock."""
    for name in OUT_ENTRIES:
        if source is not None and source.resolve() == (out / name).resolve():
            raise UserError(
                f"--out {out}: the run writes {out / name}, which is the recipe you gave; "
                "keep recipes outside the run's folder or choose another --out"
            )
    if resume and not (out / "checkpoints" / "last.pt").is_file():
        raise UserError(f"--resume: no checkpoint at {out / 'checkpoints' / 'last.pt'}")
    try:
        claim(out, "train", overwrite=overwrite, resume=resume)
        out.mkdir(parents=True, exist_ok=True)
        write_marker(out, "train")
    except OSError as exc:
        raise UserError(f"--out {out}: cannot write: {exc.strerror or exc}") from None


class _Run:
    """One training run's state; :func:`train` drives it."""

    def __init__(self, recipe: Recipe, out: Path, device: str, log: Any):
        import torch

        from render.training.models import build_model, resolve_device

        self.recipe, self.out, self.log = recipe, out, log
        self.device = resolve_device(device)
        self.cuda = self.device.type == "cuda"
        self.amp = self.cuda and recipe.train.amp
        self.train_ds, self.val_ds = build_datasets(recipe)
        self.categories = [dict(c) for c in self.train_ds.categories]
        torch.manual_seed(recipe.train.seed)
        self.model = build_model(
            recipe.model, len(self.categories) + 1, self.train_ds.num_keypoints
        ).to(self.device)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        t = recipe.train
        if t.optimizer == "sgd":
            self.opt: Any = torch.optim.SGD(
                self.params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay
            )
        else:
            self.opt = torch.optim.AdamW(self.params, lr=t.lr, weight_decay=t.weight_decay)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.steps_per_epoch = math.ceil(len(self.train_ds) / t.batch_size)
        self.total_steps = t.epochs * self.steps_per_epoch
        self.step = self.epoch = self.epoch_step = 0
        self.init: dict[str, Any] | None = None

    def init_from(self, path: Path) -> None:
        """Fine-tune: copy every matching tensor of another run's weights."""
        ckpt = ckpt_io.load(path)
        loaded, skipped = ckpt_io.load_matching(self.model, ckpt["model"])
        if not loaded:
            raise UserError(f"--init {path}: no weights fit this model (another backbone?)")
        self.init = {"checkpoint": str(path), "loaded": len(loaded), "fresh": skipped,
                     "from_categories": [c.get("name") for c in ckpt["categories"]]}  # fmt: skip
        self.log(f"--init {path}: {len(loaded)} tensors loaded; fresh: {ckpt_io.summarize_names(skipped)}")  # fmt: skip

    def state(self, final: bool = False) -> dict[str, Any]:
        import torch

        rng: dict[str, Any] = {"torch": torch.get_rng_state()}
        if self.cuda:
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {
            "recipe": self.recipe.model_dump(mode="json"),
            "categories": self.categories,
            "model": self.model.state_dict(),
            "optimizer": None if final else self.opt.state_dict(),
            "scaler": None if final else self.scaler.state_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "epoch_step": self.epoch_step,
            "total_steps": self.total_steps,
            "rng": rng,
            "init": self.init,
            "versions": versions(),
        }

    def resume_from(self, path: Path) -> dict[str, list[Any]]:
        """Load the checkpoint at ``path``; returns the recipe keys that changed
        (:func:`render.training.recipe.resume_changes`)."""
        import torch

        ckpt = ckpt_io.load(path)
        now = self.recipe.model_dump(mode="json")
        diff = recipe_difference(ckpt["recipe"], now)
        if diff is not None:
            raise UserError(f"--resume: the recipe differs from the checkpoint's ({diff})")
        names = [c.get("name") for c in ckpt["categories"]]
        if names != [c["name"] for c in self.categories]:
            raise UserError(f"--resume: the categories differ from the checkpoint's ({names})")
        self.model.load_state_dict(ckpt["model"])
        self.opt.load_state_dict(ckpt["optimizer"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.step, self.epoch, self.epoch_step = ckpt["step"], ckpt["epoch"], ckpt["epoch_step"]
        self.init = ckpt.get("init")
        torch.set_rng_state(ckpt["rng"]["torch"])
        if self.cuda and "cuda" in ckpt["rng"]:
            torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])
        return resume_changes(ckpt["recipe"], now)

    def save(self) -> None:
        path = self.out / "checkpoints" / "last.pt"
        ckpt_io.save(path, self.state())
        if self.recipe.train.keep_checkpoints:
            shutil.copyfile(path, path.with_name(f"step_{self.step:07d}.pt"))

    def loader(self) -> Any:
        import torch

        from augment.torch_dataset import data_loader

        t, d = self.recipe.train, self.recipe.data
        self.train_ds.set_epoch(self.epoch)
        order = EpochOrder(len(self.train_ds), t.seed, self.epoch, self.epoch_step * t.batch_size)
        # its own generator: making the workers' seeds must not draw from torch's global
        # random state, which the checkpoint saves (the model's samplers draw from it)
        gen = torch.Generator().manual_seed(t.seed * 100_003 + self.epoch)
        return data_loader(
            self.train_ds, batch_size=t.batch_size, sampler=order, num_workers=d.workers,
            pin_memory=self.cuda, generator=gen,
        )  # fmt: skip

    def train_step(self, images: Any, targets: Any) -> dict[str, float]:
        import torch

        arch, t = self.recipe.model.arch, self.recipe.train
        images = [im.to(self.device, non_blocking=True) for im in images]
        targets = [model_target(tg, arch, self.device) for tg in targets]
        lr = t.lr * lr_factor(self.step, t, self.total_steps)
        for group in self.opt.param_groups:
            group["lr"] = lr
        with torch.autocast(self.device.type, enabled=self.amp):
            losses = self.model(images, targets)
        loss = sum(losses.values())
        if not torch.isfinite(loss):
            raise TrainingError(
                f"step {self.step}: the loss is {float(loss)} (lr {lr:.3g}); lower"
                " train.lr or raise train.warmup_steps, then --resume from the last checkpoint"
            )
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if t.grad_clip is not None:
            self.scaler.unscale_(self.opt)
            torch.nn.utils.clip_grad_norm_(self.params, t.grad_clip)
        self.scaler.step(self.opt)
        self.scaler.update()
        if self.cuda:
            torch.cuda.synchronize()
        row = {k: float(v.detach()) for k, v in losses.items()}
        row["loss"] = float(loss.detach())
        row["lr"] = lr
        return row


def train(
    recipe: Recipe,
    out: Path,
    *,
    init: Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    device: str = "auto",
    progress: bool = True,
    source: Path | None = None,
) -> TrainResult:
    """Train (or continue training) the recipe's model into ``out``, holding its
    lock (:mod:`render.outputs`); ``source``: the recipe file it came from."""
    m, t = recipe.model, recipe.train
    check_memory(
        memory_estimate(m, t.batch_size),
        f"training at {m.min_size}x{m.max_size} px, {t.batch_size} images per step",
        "lower model.min_size / model.max_size or train.batch_size",
    )
    with OutputLock(out):
        prepare_out(out, resume=resume, overwrite=overwrite, source=source)
        try:
            return _train(recipe, out, init, resume, device, progress)
        except RuntimeError as exc:
            raise out_of_memory(
                exc, "lower model.min_size / model.max_size or train.batch_size, then --resume"
            ) from None


def _train(
    recipe: Recipe, out: Path, init: Path | None, resume: bool, device: str, progress: bool
) -> TrainResult:
    from render.training.evaluate import evaluate_model

    bar = Progress(False, 0, "")
    run = _Run(recipe, out, device, lambda m: bar.log(m))
    changed: dict[str, list[Any]] = {}
    if resume:
        changed = run.resume_from(out / "checkpoints" / "last.pt")
    elif init is not None:
        run.init_from(init)
    atomic_write_text(
        out / "recipe.yaml", yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False)
    )
    t, n = recipe.train, len(run.train_ds)
    remaining = max(t.epochs * n - (run.epoch * n + run.epoch_step * t.batch_size), 0)
    bar = Progress(progress, remaining, "train")
    times = StepTimes()
    evals: list[dict[str, Any]] = []
    metrics = (out / "metrics.jsonl").open("a", encoding="utf-8")

    def emit(row: dict[str, Any]) -> None:
        metrics.write(json.dumps(row) + "\n")
        metrics.flush()

    if changed:
        emit({"type": "resume", "step": run.step, "changed": changed})
        bar.log("resumed with " + ", ".join(f"{k} {a} -> {b}" for k, (a, b) in changed.items()))

    def validate() -> None:
        if run.val_ds is None:
            return
        report, _ = evaluate_model(
            run.model, recipe.model.arch, run.categories, run.val_ds, run.device,
            batch_size=t.batch_size, workers=recipe.data.workers,
        )  # fmt: skip
        row: dict[str, Any] = {
            "type": "eval", "epoch": run.epoch, "step": run.step, "images": report.images
        }  # fmt: skip
        for kind, res in report.results.items():
            names = {int(c["id"]): c["name"] for c in report.categories}
            row[kind] = {**res.stats, "per_class": {names[c]: v for c, v in res.per_class.items()}}
        emit(row)
        evals.append(row)
        bar.log(f"epoch {run.epoch} step {run.step}: val " + ", ".join(
            f"{k} AP {row[k]['AP']:.3f} AP50 {row[k]['AP50']:.3f}" for k in report.results))  # fmt: skip

    started = time.perf_counter()
    try:
        while run.epoch < t.epochs:
            window, this_epoch = StepTimes(), StepTimes()
            it = iter(run.loader())
            while True:
                t0 = time.perf_counter()
                try:
                    images, targets = next(it)
                except StopIteration:
                    break
                t1 = time.perf_counter()
                row = run.train_step(images, targets)
                t2 = time.perf_counter()
                run.step += 1
                run.epoch_step += 1
                for w in (window, this_epoch, times):
                    w.add(t1 - t0, t2 - t1, len(images), row)
                if run.step % t.log_every == 0 or run.step == run.total_steps:
                    emit({"type": "train", "step": run.step, "epoch": run.epoch, **window.means()})
                    window = StepTimes()
                bar.advance(len(images))
                if t.checkpoint_every and run.step % t.checkpoint_every == 0:
                    run.save()
            run.epoch += 1
            run.epoch_step = 0
            if not t.checkpoint_every or run.epoch == t.epochs:
                run.save()
            emit({"type": "epoch", "epoch": run.epoch, "step": run.step, **this_epoch.means()})
            if t.eval_every and run.epoch % t.eval_every == 0 and run.epoch < t.epochs:
                validate()
    except KeyboardInterrupt:
        bar.stop()
        print(f"synthcv: training stopped at step {run.step}; continue from the last"
              f" checkpoint with --resume (--out {out})")  # fmt: skip
        raise
    finally:
        bar.stop()
        metrics.close()
    wall = time.perf_counter() - started
    metrics = (out / "metrics.jsonl").open("a", encoding="utf-8")
    try:
        validate()
    finally:
        metrics.close()
    ckpt_io.save(out / "model.pt", run.state(final=True))
    summary = {
        "steps": run.step,
        "epochs": t.epochs,
        "train_images": len(run.train_ds),
        "val_images": len(run.val_ds) if run.val_ds is not None else 0,
        "categories": [c["name"] for c in run.categories],
        "device": str(run.device),
        "amp": run.amp,
        "wall_s": round(wall, 2),
        "this_session": times.summary(),
        "init": run.init,
        "val": evals[-1] if evals else None,
        "versions": versions(),
    }
    atomic_write_text(out / "train.json", json.dumps(summary, indent=2))
    return TrainResult(out, run.step, run.total_steps, summary)
