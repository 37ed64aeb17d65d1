"""What a checkpoint holds of a run, and putting it back: the dump and the two restore phases.

Dumping runs every process's checkpoint hooks (``on_save_checkpoint``: callbacks,
then the model). Restoring is split as in Lightning's run frame: the model's
weights, the datamodule's and the callbacks' state before ``configure_optimizers``
(``restore_model_and_callbacks``); the optimizers, schedulers, scaler and the fit
loop's position after ``on_fit_start`` (``restore_training_state``). The files
themselves are written and read by engine/_checkpoint.py.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Optional, Union

import torch

from loophooks.engine._checkpoint import VERSION_KEY, save_checkpoint_file
from loophooks.engine._errors import CheckpointError
from loophooks.engine._fit_loop import ResumePoint
from loophooks.engine._lightning_ckpt import lightning_entries, read_lightning_loops
from loophooks.engine._resume_state import accumulated_grads, capture_random, check_grads, save_time_warnings

if TYPE_CHECKING:
    from loophooks.engine._context import LoopContext
    from loophooks.engine._fit_loop import FitLoop

__all__ = [
    "dump_checkpoint",
    "save_checkpoint",
    "loophooks_version",
    "restore_model_and_callbacks",
    "restore_training_state",
]

_MIXED_KEY = "MixedPrecision"  # Lightning's key for the scaler's state


def save_checkpoint(ctx: LoopContext, fit: FitLoop, filepath: Union[str, os.PathLike[str]], weights_only: bool) -> None:
    """``Trainer.save_checkpoint``: every process runs the checkpoint hooks, global rank 0 writes the file."""
    strategy = ctx.strategy
    if strategy.module is None:
        raise RuntimeError("save_checkpoint needs a model: call it during or after fit/validate/test/predict")
    checkpoint = dump_checkpoint(ctx, fit, weights_only)
    if strategy.is_global_zero:  # one writer; the others wait until the file exists
        save_checkpoint_file(checkpoint, filepath)
    strategy.barrier("Trainer.save_checkpoint")


def dump_checkpoint(ctx: LoopContext, fit: FitLoop, weights_only: bool) -> dict[str, Any]:
    """The checkpoint of the run as it stands, after the checkpoint hooks have added to it."""
    strategy = ctx.strategy
    module = strategy.module
    d = ctx.dispatcher()
    checkpoint: dict[str, Any] = {
        "epoch": ctx.state.epoch,
        "global_step": ctx.state.global_step,
        VERSION_KEY: loophooks_version(),
        "state_dict": module.state_dict(),
        "loops": {"fit_loop": _fit_loop_state(ctx, fit)},
    }
    lightning_entries(ctx.trainer, checkpoint)  # what Lightning needs to load and resume it (engine/_lightning_ckpt.py)
    if not weights_only:
        checkpoint["callbacks"] = d.callback_state_dicts()
        checkpoint["optimizer_states"] = [o.state_dict() for o in strategy.optimizers]
        checkpoint["lr_schedulers"] = [c.scheduler.state_dict() for c in strategy.lr_scheduler_configs]
        scaler_state = strategy.precision.state_dict()
        if scaler_state:
            checkpoint[_MIXED_KEY] = scaler_state
    dm = d.datamodule
    if dm is not None:
        dm_state = d.datamodule_hook("state_dict")
        if dm_state:
            checkpoint[type(dm).__qualname__] = dm_state
    if not weights_only:
        d.callback_hooks("on_save_checkpoint", checkpoint)
    d.module_hook("on_save_checkpoint", checkpoint)
    return checkpoint


def _fit_loop_state(ctx: LoopContext, fit: FitLoop) -> dict[str, Any]:
    """Where a fit restored from this checkpoint continues."""
    state = ctx.state
    epoch, done, mid = state.epoch, 0, False
    if fit.in_epoch_end:
        epoch += 1
    elif state.fn == "fit" and state.epoch_open:
        # A batch whose on_train_batch_end is running counts as done (Lightning's rule).
        done = state.batches_done + (1 if fit.epoch_loop.in_batch_end else 0)
        mid = done > 0
    loop: dict[str, Any] = {
        "epoch": epoch,
        "global_step": state.global_step,
        "batches_done": done,
        "mid_epoch": mid,
        "total_batch_idx": state.total_batch_idx,
        "epoch_rng": fit.epoch_rng if mid else None,
        "rng": torch.get_rng_state(),
        # engine/_resume_state.py: Python's, NumPy's and the loader's own generators, for an exact resume
        "epoch_random": fit.epoch_random if mid else None,
        "random": capture_random(fit.loader),
    }
    # Saved inside an accumulation window: the gradients gathered so far are part of the next step.
    strategy = ctx.strategy
    accumulate = fit.epoch_loop.accumulate
    window_open = mid and strategy.automatic and accumulate > 1 and done % accumulate != 0
    if window_open and isinstance(strategy.module, torch.nn.Module):
        loop["accumulated_grads"] = accumulated_grads(strategy.module)
    save_time_warnings(fit.loader, window_open=window_open, world_size=strategy.world_size)
    return loop


def restore_model_and_callbacks(ctx: LoopContext, checkpoint: dict[str, Any], ckpt_path: Optional[str]) -> None:
    """``on_load_checkpoint`` (model first), the weights, the datamodule's and the callbacks' state."""
    d = ctx.dispatcher()
    d.module_hook("on_load_checkpoint", checkpoint)
    module = ctx.strategy.module
    try:
        module.load_state_dict(checkpoint["state_dict"], strict=getattr(module, "strict_loading", True))
    except (RuntimeError, KeyError, TypeError) as exc:  # missing/unexpected keys, wrong shapes
        raise CheckpointError(f"checkpoint {ckpt_path!r} does not fit {type(module).__name__}: {exc}") from exc
    dm = d.datamodule
    if dm is not None and type(dm).__qualname__ in checkpoint:
        d.datamodule_hook("load_state_dict", checkpoint[type(dm).__qualname__])
    if checkpoint.get("callbacks") is not None:
        d.callback_hooks("on_load_checkpoint", checkpoint)
        d.callback_load_state_dicts(checkpoint["callbacks"])


def restore_training_state(
    ctx: LoopContext, fit: FitLoop, checkpoint: dict[str, Any], ckpt_path: Optional[str], max_epochs: int
) -> None:
    """The scaler, the fit loop's position, the optimizers' and schedulers' state."""
    strategy = ctx.strategy
    strategy.precision.load_state_dict(checkpoint.get(_MIXED_KEY, {}))
    loop = (checkpoint.get("loops") or {}).get("fit_loop")
    state = ctx.state
    if isinstance(loop, dict) and "batches_done" in loop:
        state.epoch = int(loop["epoch"])
        state.global_step = int(loop["global_step"])
        state.total_batch_idx = int(loop.get("total_batch_idx", -1))
        fit.resume = ResumePoint(
            int(loop["batches_done"]),
            bool(loop["mid_epoch"]),
            loop.get("epoch_rng"),
            loop.get("rng"),
            epoch_random=loop.get("epoch_random"),
            random=loop.get("random"),
            grads=loop.get("accumulated_grads"),
        )
        if fit.resume.grads and isinstance(strategy.module, torch.nn.Module):
            check_grads(strategy.module, fit.resume.grads, ckpt_path)  # put back when the epoch resumes
    else:  # Lightning's checkpoint: its progress counters say where (engine/_lightning_ckpt.py)
        try:
            point = read_lightning_loops(checkpoint, ckpt_path)
        except CheckpointError:
            raise
        except Exception as exc:  # counters of the wrong type in a damaged file
            raise CheckpointError(
                f"checkpoint {ckpt_path!r}: Lightning loop state cannot be read: {type(exc).__name__}: {exc}"
            ) from exc
        state.epoch = point.epoch
        state.global_step = point.global_step
        state.total_batch_idx = point.total_batch_idx
        fit.resume = ResumePoint(point.batches_done, point.mid_epoch, None, None)
    # The loggers' step continues where it was (Lightning restores its _batches_that_stepped; for a stepping
    # loop that count is the global step, which is what the checkpoint holds)
    ctx.metrics.batches_that_stepped = state.global_step
    if max_epochs != -1 and state.epoch > max_epochs:
        raise CheckpointError(
            f"checkpoint {ckpt_path!r} is at epoch {state.epoch}, beyond Trainer(max_epochs={max_epochs})"
        )
    if "optimizer_states" not in checkpoint or "lr_schedulers" not in checkpoint:
        raise CheckpointError(
            f"checkpoint {ckpt_path!r} holds only weights (saved with weights_only=True); fit cannot resume"
        )
    states = checkpoint["optimizer_states"]
    if len(states) != len(strategy.optimizers):
        raise CheckpointError(
            f"checkpoint {ckpt_path!r} has {len(states)} optimizer states; configure_optimizers returned "
            f"{len(strategy.optimizers)} optimizers"
        )
    for i, (opt, opt_state) in enumerate(zip(strategy.optimizers, states)):
        try:
            opt.load_state_dict(opt_state)
        except (ValueError, KeyError, TypeError) as exc:  # parameter groups of another model
            raise CheckpointError(
                f"checkpoint {ckpt_path!r}: optimizer state {i} does not fit {type(opt).__name__}: {exc}"
            ) from exc
    configs = strategy.lr_scheduler_configs
    if len(checkpoint["lr_schedulers"]) != len(configs):
        raise CheckpointError(
            f"checkpoint {ckpt_path!r} has {len(checkpoint['lr_schedulers'])} scheduler states; "
            f"configure_optimizers returned {len(configs)} schedulers"
        )
    for i, (config, sched_state) in enumerate(zip(configs, checkpoint["lr_schedulers"])):
        try:
            config.scheduler.load_state_dict(sched_state)
        except Exception as exc:  # a state of another scheduler type, or a damaged one
            raise CheckpointError(
                f"checkpoint {ckpt_path!r}: scheduler state {i} does not fit "
                f"{type(config.scheduler).__name__}: {type(exc).__name__}: {exc}"
            ) from exc


def loophooks_version() -> str:
    """The installed distribution's version, written into every checkpoint."""
    try:
        from importlib.metadata import version

        return version("loophooks")
    except Exception:  # not installed as a distribution (running from a source tree)
        return "0+unknown"
