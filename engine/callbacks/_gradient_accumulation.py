"""``GradientAccumulationScheduler``: change ``accumulate_grad_batches`` by epoch (Lightning's)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loophooks.engine._errors import ConfigurationError
from loophooks.engine.callbacks._base import Callback

if TYPE_CHECKING:
    from loophooks.engine._trainer import Trainer

__all__ = ["GradientAccumulationScheduler"]


class GradientAccumulationScheduler(Callback):
    """``scheduling={epoch: factor}``: from that (0-based) epoch on, accumulate ``factor`` batches per step.

    Epochs before the first key accumulate 1. Needs automatic optimization and
    ``Trainer(accumulate_grad_batches=1)``, as in Lightning.
    """

    def __init__(self, scheduling: dict[int, int]) -> None:
        if not scheduling:
            raise TypeError("GradientAccumulationScheduler(scheduling=...) cannot be empty")
        if not isinstance(scheduling, dict):
            raise ConfigurationError(
                f"GradientAccumulationScheduler(scheduling=...) must be a dict {{epoch: factor}}; received {scheduling!r}"
            )
        if any(isinstance(k, bool) or not isinstance(k, int) or k < 0 for k in scheduling):
            raise ConfigurationError(
                f"GradientAccumulationScheduler: epochs must be ints >= 0; received {list(scheduling)}"
            )
        if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in scheduling.values()):
            raise ConfigurationError(
                f"GradientAccumulationScheduler: factors must be ints >= 1; received {list(scheduling.values())}"
            )
        if min(scheduling) != 0:
            scheduling.update({0: 1})  # as Lightning: the caller's dict gains epoch 0
        self.scheduling = scheduling
        self.epochs = sorted(scheduling)

    def going_to_accumulate_grad_batches(self) -> bool:
        return any(v > 1 for v in self.scheduling.values())

    def get_accumulate_grad_batches(self, epoch: int) -> int:
        factor = 1
        for start in reversed(self.epochs):
            if epoch >= start:
                factor = self.scheduling[start]
                break
        return factor

    def on_train_start(self, trainer: Trainer, pl_module: Any) -> None:
        if not getattr(pl_module, "automatic_optimization", True):
            raise RuntimeError(
                "GradientAccumulationScheduler needs automatic optimization; remove the callback or switch "
                "automatic_optimization back on"
            )
        if trainer.accumulate_grad_batches != 1:
            raise ValueError(
                f"Trainer(accumulate_grad_batches={trainer.accumulate_grad_batches}) and a "
                "GradientAccumulationScheduler both set the accumulation; remove one of them"
            )
        from loophooks.engine._dispatch import is_overridden

        if self.going_to_accumulate_grad_batches() and (
            is_overridden(pl_module, "optimizer_step") or is_overridden(pl_module, "optimizer_zero_grad")
        ):
            import warnings

            warnings.warn(
                "GradientAccumulationScheduler: the model overrides optimizer_step or optimizer_zero_grad; while "
                "accumulating they are called once per optimizer step, not once per batch",
                stacklevel=2,
            )

    def on_train_epoch_start(self, trainer: Trainer, pl_module: Any) -> None:
        trainer.accumulate_grad_batches = self.get_accumulate_grad_batches(trainer.current_epoch)
