"""Callbacks: the spec's Protocol subclassed explicitly, the engine's base class, and one matched structurally."""

from __future__ import annotations

from typing import Any

from torch import Tensor
from torch.optim import Optimizer

from loophooks import spec
from loophooks.engine import Callback, Trainer
from loophooks.spec import STEP_OUTPUT


class GradientWatcher(spec.Callback):
    def __init__(self) -> None:
        self.norms: list[float] = []

    def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Optimizer) -> None:
        self.norms.append(0.0)

    def on_before_backward(self, trainer: Any, pl_module: Any, loss: Tensor) -> None:
        assert loss.ndim == 0

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self.stage = stage


class Stopper(Callback):
    def on_validation_batch_end(
        self,
        trainer: Any,
        pl_module: Any,
        outputs: STEP_OUTPUT,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        trainer.should_stop = True

    def on_save_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        checkpoint["stopper"] = True


def run() -> None:
    Trainer(callbacks=[GradientWatcher(), Stopper()])
    Trainer(callbacks=Stopper())
    watcher: spec.Callback = GradientWatcher()
    Trainer(callbacks=(watcher,))
