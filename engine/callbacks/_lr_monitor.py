"""``LearningRateMonitor``: log each optimizer's learning rate (and momentum, weight decay) to the loggers.

Names, intervals and values follow Lightning 2.6: ``lr-<Optimizer>`` (or the
scheduler's ``name``), ``/pg<i>`` or the group's ``name`` for several parameter
groups, ``-<k>`` for several optimizers of one type; logged on the steps the
loggers log (``log_every_n_steps``) for step schedulers and optimizers without a
scheduler, at each epoch start for epoch schedulers. Like Lightning it needs a
logger and says so when the Trainer has none.
"""

from __future__ import annotations

import itertools
import warnings
from collections import defaultdict
from typing import TYPE_CHECKING, Any, Literal, Optional

import torch
from torch.optim import Optimizer

from loophooks.engine._errors import ConfigurationError
from loophooks.engine.callbacks._base import Callback

if TYPE_CHECKING:
    from loophooks.engine._trainer import Trainer

__all__ = ["LearningRateMonitor"]


class LearningRateMonitor(Callback):
    """Log learning rates; ``logging_interval``: None (each scheduler's own), ``"step"`` or ``"epoch"``."""

    def __init__(
        self,
        logging_interval: Optional[Literal["step", "epoch"]] = None,
        log_momentum: bool = False,
        log_weight_decay: bool = False,
    ) -> None:
        if logging_interval not in (None, "step", "epoch"):
            raise ConfigurationError(
                f"LearningRateMonitor(logging_interval=...) must be None, 'step' or 'epoch'; received {logging_interval!r}"
            )
        self.logging_interval = logging_interval
        self.log_momentum = log_momentum
        self.log_weight_decay = log_weight_decay
        self.lrs: dict[str, list[float]] = {}
        self.last_momentum_values: dict[str, Optional[float]] = {}
        self.last_weight_decay_values: dict[str, Optional[float]] = {}

    def on_train_start(self, trainer: Trainer, pl_module: Any) -> None:
        if not _loggers(trainer):
            raise ConfigurationError(
                "LearningRateMonitor needs a logger: the Trainer has none (pass Trainer(logger=...))"
            )
        if self.log_momentum and _lacks(trainer, "momentum") and _lacks(trainer, "betas"):
            warnings.warn(
                "LearningRateMonitor(log_momentum=True) but some optimizers have no momentum; 0 is logged for them",
                RuntimeWarning,
                stacklevel=2,
            )
        sched_names, seen, seen_types = self._names_from_schedulers(trainer)
        opt_names, _ = self._names_from_optimizers(trainer, seen, seen_types)
        flat = list(itertools.chain.from_iterable([*sched_names, *opt_names]))
        self.lrs = {name: [] for name in flat}
        self.last_momentum_values = {name + "-momentum": None for name in flat}
        self.last_weight_decay_values = {name + "-weight_decay": None for name in flat}

    def on_train_batch_start(self, trainer: Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
        if not _should_update_logs(trainer) or self.logging_interval == "epoch":
            return
        stats = self._extract_stats(trainer, "step" if self.logging_interval is None else "any")
        if stats:
            _log(trainer, stats)

    def on_train_epoch_start(self, trainer: Trainer, pl_module: Any) -> None:
        if self.logging_interval == "step":
            return
        stats = self._extract_stats(trainer, "epoch" if self.logging_interval is None else "any")
        if stats:
            _log(trainer, stats)

    # --- names and values ------------------------------------------------------------------------------
    def _extract_stats(self, trainer: Trainer, interval: str) -> dict[str, float]:
        stats: dict[str, float] = {}
        sched_names, seen, seen_types = self._names_from_schedulers(trainer)
        self._remap_keys(sched_names)
        for names, config in zip(sched_names, trainer.lr_scheduler_configs):
            if interval in (config.interval, "any"):
                stats.update(self._optimizer_stats(config.scheduler.optimizer, names))
        opt_names, unscheduled = self._names_from_optimizers(trainer, seen, seen_types)
        self._remap_keys(opt_names)
        for opt, names in zip(unscheduled, opt_names):
            stats.update(self._optimizer_stats(opt, names))
        device = trainer.strategy.root_device
        trainer.callback_metrics.update({name: torch.tensor(value, device=device) for name, value in stats.items()})
        return stats

    def _optimizer_stats(self, optimizer: Optimizer, names: list[str]) -> dict[str, float]:
        stats: dict[str, float] = {}
        betas = "betas" in optimizer.defaults
        for group, name in zip(optimizer.param_groups, names):
            lr = group["lr"]
            self.lrs.setdefault(name, []).append(lr)
            stats[name] = lr
            if self.log_momentum:
                momentum = group["betas"][0] if betas else group.get("momentum", 0)
                self.last_momentum_values[f"{name}-momentum"] = momentum
                stats[f"{name}-momentum"] = momentum
            if self.log_weight_decay:
                decay = group["weight_decay"]
                self.last_weight_decay_values[f"{name}-weight_decay"] = decay
                stats[f"{name}-weight_decay"] = decay
        return stats

    def _remap_keys(self, names: list[list[str]], token: str = "/pg1") -> None:
        """A group added to an optimizer renames its first group's key from ``name`` to ``name/pg1``."""
        for group_names in names:
            for new in group_names:
                old = new.replace(token, "")
                if token in new and old in self.lrs:
                    self.lrs[new] = self.lrs.pop(old)
                elif new not in self.lrs:
                    self.lrs[new] = []

    def _names_from_schedulers(
        self, trainer: Trainer
    ) -> tuple[list[list[str]], list[Optimizer], defaultdict[type[Optimizer], int]]:
        names: list[list[str]] = []
        seen: list[Optimizer] = []
        seen_types: defaultdict[type[Optimizer], int] = defaultdict(int)
        for config in trainer.lr_scheduler_configs:
            optimizer = config.scheduler.optimizer
            name = config.name if config.name is not None else "lr-" + type(optimizer).__name__
            names.append(self._group_names(optimizer, name, seen, seen_types, counted=config.name is None))
        return names, seen, seen_types

    def _names_from_optimizers(
        self, trainer: Trainer, seen: list[Optimizer], seen_types: defaultdict[type[Optimizer], int]
    ) -> tuple[list[list[str]], list[Optimizer]]:
        names: list[list[str]] = []
        unscheduled: list[Optimizer] = []
        for optimizer in trainer.optimizers:
            optimizer = getattr(optimizer, "optimizer", optimizer)
            if optimizer in seen:
                continue
            names.append(self._group_names(optimizer, "lr-" + type(optimizer).__name__, seen, seen_types, counted=True))
            unscheduled.append(optimizer)
        return names, unscheduled

    @staticmethod
    def _group_names(
        optimizer: Optimizer,
        name: str,
        seen: list[Optimizer],
        seen_types: defaultdict[type[Optimizer], int],
        *,
        counted: bool,
    ) -> list[str]:
        seen.append(optimizer)
        cls = type(optimizer)
        if counted:
            seen_types[cls] += 1
        groups = optimizer.param_groups
        labels = [g.get("name", f"pg{i}") for i, g in enumerate(groups, start=1)]
        duplicates = {n for n in labels if labels.count(n) > 1}
        if duplicates:
            raise ConfigurationError(
                f"LearningRateMonitor: an optimizer cannot have several parameter groups with the same name; {name} "
                f"has {sorted(duplicates)}"
            )
        if cls in seen_types and seen_types[cls] > 1:
            name = f"{name}-{seen_types[cls] - 1}"
        out = []
        for i, group in enumerate(groups):
            if len(groups) > 1:
                out.append(f"{name}/{group.get('name', f'pg{i + 1}')}")
            else:
                out.append(f"{name}/{group['name']}" if group.get("name") else name)
        return out


def _loggers(trainer: Trainer) -> list[Any]:
    return list(getattr(trainer, "loggers", None) or [])


def _lacks(trainer: Trainer, key: str) -> bool:
    if trainer.lr_scheduler_configs:
        return any(key not in c.scheduler.optimizer.defaults for c in trainer.lr_scheduler_configs)
    return any(key not in o.defaults for o in trainer.optimizers)


def _should_update_logs(trainer: Trainer) -> bool:
    """Lightning's rule: the step about to run is a logging step (every ``log_every_n_steps``), or fit is stopping."""
    every = int(getattr(trainer, "log_every_n_steps", 50))
    return (trainer.global_step + 1) % every == 0 or trainer.should_stop


def _log(trainer: Trainer, stats: dict[str, float]) -> None:
    for logger in _loggers(trainer):
        logger.log_metrics(stats, step=trainer.global_step)
