"""Checkpoints that Lightning 2.6 reads, and Lightning's checkpoints read here.

Writing: besides its own resume point, the engine's checkpoint carries what
Lightning's ``load_from_checkpoint`` and ``Trainer.fit(ckpt_path=...)`` read: the
hyperparameters (``hyper_parameters``, ``hparams_name`` and the datamodule's),
``pytorch-lightning_version`` (the Lightning release whose format this is) and,
under ``loops``, Lightning's progress counters for the same point of the run.
Lightning's loops read only the keys named after their own attributes, and the
engine reads only its own, so both live side by side in ``loops["fit_loop"]``.

Reading: a checkpoint without the engine's resume point is decoded from
Lightning's counters (``epoch_progress``, ``epoch_loop.batch_progress``), so it
resumes at the epoch and batch where Lightning would, or is refused with an error
that says why. Lightning keeps no RNG state: a mid-epoch resume of a shuffled
loader draws a fresh order, and skips as many batches as were done.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from loophooks.engine._errors import CheckpointError
from loophooks.engine._loading import (
    DATAMODULE_HPARAMS_KEY,
    DATAMODULE_HPARAMS_NAME_KEY,
    HPARAMS_KEY,
    HPARAMS_NAME_KEY,
)

if TYPE_CHECKING:
    from loophooks.engine._trainer import Trainer

__all__ = ["LIGHTNING_FORMAT", "LIGHTNING_VERSION_KEY", "LightningResume", "lightning_entries", "read_lightning_loops"]

LIGHTNING_VERSION_KEY = "pytorch-lightning_version"
LIGHTNING_FORMAT = "2.6.6"  # the Lightning release whose checkpoint layout the engine writes


def _progress(ready: int, started: int, processed: int, completed: int) -> dict[str, int]:
    return {"ready": ready, "started": started, "processed": processed, "completed": completed}


def _batch_progress(current: dict[str, int], total: dict[str, int], is_last: bool) -> dict[str, Any]:
    return {"total": total, "current": current, "is_last_batch": is_last}


def _steps(current: int, total: int) -> dict[str, Any]:
    return {"total": {"ready": total, "completed": total}, "current": {"ready": current, "completed": current}}


def _zero_batches(is_last: bool = False) -> dict[str, Any]:
    return _batch_progress(_progress(0, 0, 0, 0), _progress(0, 0, 0, 0), is_last)


def lightning_entries(trainer: Trainer, checkpoint: dict[str, Any]) -> None:
    """Add Lightning's keys to ``checkpoint`` (which already holds the engine's ``loops["fit_loop"]``)."""
    module = trainer._strategy.module
    checkpoint[LIGHTNING_VERSION_KEY] = LIGHTNING_FORMAT
    for obj, key, name_key in (
        (module, HPARAMS_KEY, HPARAMS_NAME_KEY),
        (trainer.datamodule, DATAMODULE_HPARAMS_KEY, DATAMODULE_HPARAMS_NAME_KEY),
    ):
        hparams = getattr(obj, "_hparams", None) if obj is not None else None
        if hparams:
            checkpoint[name_key] = getattr(obj, "_hparams_name", None)
            checkpoint[key] = dict(hparams)
    loops = checkpoint.setdefault("loops", {})
    fit_loop = loops.setdefault("fit_loop", {})
    fit_loop.update(_fit_loop_counters(trainer))
    for name in ("validate_loop", "test_loop"):
        loops.setdefault(name, {"state_dict": {}, "batch_progress": _zero_batches()})
    loops.setdefault(
        "predict_loop",
        {"state_dict": {}, "batch_progress": {"total": _progress(0, 0, 0, 0), "current": _progress(0, 0, 0, 0)}},
    )


def _fit_loop_counters(trainer: Trainer) -> dict[str, Any]:
    """Lightning's progress counters for where the engine's run stands (see spec/ORDER.md on resuming)."""
    state = trainer.state
    fit = trainer._fit_loop
    epoch = state.epoch
    total = state.total_batch_idx + 1  # batches fetched over the whole fit
    global_step = state.global_step
    if fit.in_epoch_end:  # on_train_epoch_end (ModelCheckpoint's usual moment): the epoch is processed
        epochs = _progress(epoch + 1, epoch + 1, epoch + 1, epoch)
        n = fit.epoch_loop.ready
        current, whole, is_last = _progress(n, n, n, n), _progress(total, total, total, total), True
    elif state.fn == "fit" and state.epoch_open:  # inside the epoch
        epochs = _progress(epoch + 1, epoch + 1, epoch, epoch)
        n = state.batches_done
        if fit.epoch_loop.in_batch_end:  # on_train_batch_end: the batch is processed, not completed
            current = _progress(n + 1, n + 1, n + 1, n)
            whole = _progress(total, total, total, total - 1)
        else:
            current, whole = _progress(n, n, n, n), _progress(total, total, total, total)
        is_last = state.is_last_batch
    else:  # between epochs, or after fit: every started epoch is complete
        epochs = _progress(epoch, epoch, epoch, epoch)
        n = fit.epoch_loop.ready
        current, whole, is_last = _progress(n, n, n, n), _progress(total, total, total, total), n > 0
    automatic = trainer._strategy.module is None or getattr(trainer._strategy, "automatic", True)
    accumulate = max(1, trainer.accumulate_grad_batches)
    steps_this_epoch = min(global_step, -(-current["processed"] // accumulate)) if automatic else 0
    auto_steps = global_step if automatic else 0
    manual_steps = 0 if automatic else global_step
    stepped = global_step
    if fit.epoch_loop.in_batch_end and state.fn == "fit" and not fit.epoch_loop.should_accumulate():
        stepped -= 1  # Lightning counts a stepping batch after its on_train_batch_end (and adds it back on restart)
    return {
        "state_dict": {},
        "epoch_progress": {"total": dict(epochs), "current": dict(epochs)},
        "epoch_loop.state_dict": {"_batches_that_stepped": max(stepped, 0)},
        "epoch_loop.batch_progress": _batch_progress(current, whole, is_last),
        "epoch_loop.scheduler_progress": _steps(0, 0),
        "epoch_loop.automatic_optimization.state_dict": {},
        "epoch_loop.automatic_optimization.optim_progress": {
            "optimizer": {
                "step": _steps(steps_this_epoch, auto_steps),
                "zero_grad": {
                    "total": {"ready": auto_steps, "started": auto_steps, "completed": auto_steps},
                    "current": {"ready": steps_this_epoch, "started": steps_this_epoch, "completed": steps_this_epoch},
                },
            }
        },
        "epoch_loop.manual_optimization.state_dict": {},
        "epoch_loop.manual_optimization.optim_step_progress": _steps(0, manual_steps),
        "epoch_loop.val_loop.state_dict": {},
        "epoch_loop.val_loop.batch_progress": _zero_batches(),
    }


class LightningResume(NamedTuple):
    """Where a fit restored from a Lightning checkpoint continues."""

    epoch: int
    global_step: int
    batches_done: int
    mid_epoch: bool
    total_batch_idx: int


def _counter(tree: Any, *path: str) -> int:
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            raise KeyError("/".join(path))
        tree = tree[key]
    if isinstance(tree, bool) or not isinstance(tree, int):
        raise KeyError("/".join(path))
    return tree


def read_lightning_loops(checkpoint: dict[str, Any], path: str | None) -> LightningResume:
    """The resume point of a checkpoint Lightning wrote, from its progress counters.

    Raises :class:`CheckpointError` when the counters are missing or describe a
    point the engine cannot continue from (inside a validation run).
    """
    loop = (checkpoint.get("loops") or {}).get("fit_loop")
    if not isinstance(loop, dict):
        raise CheckpointError(
            f"checkpoint {path!r} has no loop state (neither the engine's nor Lightning's 'loops'/'fit_loop'): "
            "the epoch and batch to resume from are unknown, so fit cannot resume from it"
        )
    try:
        ready = _counter(loop, "epoch_progress", "total", "ready")
        started = _counter(loop, "epoch_progress", "total", "started")
        processed = _counter(loop, "epoch_progress", "total", "processed")
        completed = _counter(loop, "epoch_progress", "total", "completed")
        b_started = _counter(loop, "epoch_loop.batch_progress", "current", "started")
        b_processed = _counter(loop, "epoch_loop.batch_progress", "current", "processed")
        b_completed = _counter(loop, "epoch_loop.batch_progress", "current", "completed")
        b_total = _counter(loop, "epoch_loop.batch_progress", "total", "ready")
    except KeyError as exc:
        raise CheckpointError(
            f"checkpoint {path!r}: Lightning loop state without the counter {exc.args[0]!r}; "
            "fit cannot tell where to resume"
        ) from exc
    val = loop.get("epoch_loop.val_loop.batch_progress", {}).get("current", {})
    if isinstance(val, dict) and val.get("started", 0) > val.get("completed", 0):
        raise CheckpointError(
            f"checkpoint {path!r} was saved in the middle of a validation run; the engine resumes from training "
            "batches only. Use a checkpoint saved at a training batch or epoch end"
        )
    global_step = int(checkpoint.get("global_step", 0))
    if started == processed:  # the epoch is over (or never started): begin the next one
        return LightningResume(processed, global_step, 0, False, b_total - 1)
    if ready > started or started != processed + 1 or processed != completed:
        raise CheckpointError(
            f"checkpoint {path!r}: Lightning's epoch counters (ready={ready}, started={started}, "
            f"processed={processed}, completed={completed}) describe no point a fit can resume from"
        )
    # Inside epoch `processed`: a batch whose on_train_batch_end ran (processed, not completed) counts as done.
    done = b_completed + (1 if b_processed == b_started and b_completed == b_processed - 1 else 0)
    return LightningResume(processed, global_step, done, done > 0, b_total - 1)
