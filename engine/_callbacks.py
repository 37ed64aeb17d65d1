"""The progress bar, and the rule that orders monitoring callbacks.

The other callbacks live in :mod:`loophooks.engine.callbacks`, one module each;
they are re-exported here for the modules that import them from this one.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import torch

from loophooks.engine.callbacks import Callback, EarlyStopping, ModelCheckpoint

if TYPE_CHECKING:
    from loophooks.engine._trainer import Trainer

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "ProgressBar", "is_monitoring_callback"]


def is_monitoring_callback(cb: object) -> bool:
    """Checkpointing and early stopping run after the model's ``on_train_epoch_end`` (Lightning's rule)."""
    return isinstance(cb, (ModelCheckpoint, EarlyStopping)) or bool(getattr(cb, "_loophooks_monitoring", False))


class ProgressBar(Callback):
    """A tqdm bar per epoch showing the loss; the Trainer adds it only when stdout is a terminal."""

    def __init__(self) -> None:
        self._bar: Any = None

    @staticmethod
    def wanted() -> bool:
        return sys.stdout.isatty()

    def on_train_epoch_start(self, trainer: Trainer, pl_module: Any) -> None:
        from tqdm.auto import tqdm  # type: ignore[import-untyped]

        total = trainer.num_training_batches
        self._bar = tqdm(
            total=None if total == float("inf") else int(total),
            desc=f"Epoch {trainer.current_epoch}",
            leave=True,
            dynamic_ncols=True,
            file=sys.stdout,
        )

    def on_train_batch_end(self, trainer: Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        bar = self._bar
        if bar is None:
            return
        bar.update(1)
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor) and (batch_idx % 10 == 0 or trainer.is_last_batch):
            bar.set_postfix(loss=f"{float(loss) * trainer.accumulate_grad_batches:.4g}", refresh=False)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: Any) -> None:
        self._close()

    def on_train_end(self, trainer: Trainer, pl_module: Any) -> None:
        self._close()

    def on_exception(self, trainer: Trainer, pl_module: Any, exception: BaseException) -> None:
        self._close()

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
