"""``log``: scalars into ``trainer.callback_metrics``, per step or averaged over an epoch."""

from __future__ import annotations

from typing import Any, Optional

import torch
from typing_extensions import final

__all__ = ["Metrics"]


@final
class Metrics:
    """What ``LoopModule.log`` writes to.

    In training a value is a step value by default (``on_step=True``); in
    evaluation it is an epoch value by default, averaged (weighted by
    ``batch_size`` when given) over the epoch and published when the epoch ends.

    ``sync_dist=True`` (several processes): a step value is averaged over the
    processes when logged, an epoch value is averaged over every process's batches
    when the epoch ends. Every process must log the same names with ``sync_dist``
    (each is a collective); without it each process keeps its own value.
    """

    __slots__ = ("callback_metrics", "_epoch", "_sync", "_trainer")

    def __init__(self, trainer: Any) -> None:
        self._trainer = trainer
        self.callback_metrics: dict[str, torch.Tensor] = {}
        self._epoch: dict[str, list[float]] = {}
        self._sync: set[str] = set()

    def log(
        self,
        name: str,
        value: Any,
        *,
        on_step: Optional[bool],
        on_epoch: Optional[bool],
        prog_bar: bool = False,
        batch_size: Optional[int] = None,
        sync_dist: bool = False,
    ) -> None:
        tensor = value.detach() if isinstance(value, torch.Tensor) else torch.tensor(float(value))
        training = self._trainer.training
        if on_step is None:
            on_step = training
        if on_epoch is None:
            on_epoch = not training
        if on_step:
            self.callback_metrics[name] = self._trainer.strategy.reduce(tensor) if sync_dist else tensor
        if on_epoch and sync_dist:
            self._sync.add(name)
        if on_epoch:
            weight = float(batch_size) if batch_size else 1.0
            acc = self._epoch.setdefault(name, [0.0, 0.0])
            acc[0] += float(tensor.float().mean()) * weight
            acc[1] += weight

    def epoch_end(self) -> None:
        """Publish the epoch averages and start a new epoch."""
        strategy = self._trainer.strategy
        for name, (total, weight) in self._epoch.items():
            if name in self._sync and strategy.world_size > 1:  # the weighted mean over every process's batches
                pair = strategy.reduce(torch.tensor([total, weight], dtype=torch.float64), "sum")
                total, weight = float(pair[0]), float(pair[1])
            if weight:
                self.callback_metrics[name] = torch.tensor(total / weight)
        self._epoch.clear()
        self._sync.clear()

    def reset_epoch(self) -> None:
        self._epoch.clear()
        self._sync.clear()
