"""Optimizers and schedulers: parsing ``configure_optimizers``, the optimizer wrapper, closures.

``configure_optimizers`` may return an optimizer; a list or tuple of optimizers;
a pair ``(optimizers, schedulers)``; a dict with ``"optimizer"`` and optionally
``"lr_scheduler"`` (a scheduler or a config dict) and ``"monitor"``; or a list of
such dicts. A scheduler config dict has ``scheduler`` and optionally ``interval``
(``"epoch"``/``"step"``), ``frequency``, ``monitor``, ``strict``, ``name``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

import torch
from torch.optim import Optimizer

from loophooks.engine._errors import HookValueError

if TYPE_CHECKING:
    from loophooks.engine._strategy import Strategy

__all__ = ["LRSchedulerConfig", "LoopOptimizer", "parse_optimizers"]


@dataclass
class LRSchedulerConfig:
    """A scheduler and when the loop steps it (Lightning's ``LRSchedulerConfig``)."""

    scheduler: Any
    name: Optional[str] = None
    interval: str = "epoch"
    frequency: int = 1
    reduce_on_plateau: bool = False
    monitor: Optional[str] = None
    strict: bool = True


_SCHED_KEYS = frozenset({"scheduler", "name", "interval", "frequency", "monitor", "strict", "reduce_on_plateau"})


def _is_scheduler(obj: object) -> bool:
    return callable(getattr(obj, "step", None)) and hasattr(obj, "optimizer") and not isinstance(obj, Optimizer)


def _bad(expected: str, received: object) -> HookValueError:
    return HookValueError("configure_optimizers", "return value", expected, received)


def _scheduler_config(obj: Any, monitor: Optional[str]) -> LRSchedulerConfig:
    if isinstance(obj, Mapping):
        unknown = set(obj) - _SCHED_KEYS
        if "scheduler" not in obj or unknown:
            raise _bad(f"a scheduler config dict with 'scheduler' and only keys {sorted(_SCHED_KEYS)}", obj)
        interval = obj.get("interval", "epoch")
        if interval not in ("epoch", "step"):
            raise _bad("an lr_scheduler 'interval' of 'epoch' or 'step'", interval)
        config = LRSchedulerConfig(
            scheduler=obj["scheduler"],
            name=obj.get("name"),
            interval=interval,
            frequency=int(obj.get("frequency", 1)),
            monitor=obj.get("monitor", monitor),
            strict=bool(obj.get("strict", True)),
        )
    elif _is_scheduler(obj):
        config = LRSchedulerConfig(scheduler=obj, monitor=monitor)
    else:
        raise _bad("an LR scheduler or a scheduler config dict", obj)
    if not _is_scheduler(config.scheduler):
        raise _bad("an LR scheduler (with .step() and .optimizer)", config.scheduler)
    config.reduce_on_plateau = isinstance(config.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    if config.reduce_on_plateau and config.monitor is None:
        raise _bad("a 'monitor' key naming the metric for ReduceLROnPlateau", obj)
    return config


def parse_optimizers(value: Any) -> tuple[list[Optimizer], list[LRSchedulerConfig]]:
    """Split what ``configure_optimizers`` returned into optimizers and scheduler configs."""
    optimizers: list[Any]
    schedulers: list[LRSchedulerConfig] = []
    if value is None:
        return [], []
    if isinstance(value, Optimizer):
        optimizers = [value]
    elif isinstance(value, Mapping):
        optimizers, schedulers = _from_dicts([value])
    elif (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and isinstance(value[0], (list, tuple))
        and not (value and isinstance(value[0], Mapping))
    ):
        optimizers = list(value[0])
        second = value[1] if isinstance(value[1], (list, tuple)) else [value[1]]
        schedulers = [_scheduler_config(s, None) for s in second]
    elif isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        items = list(value)
        if items and all(isinstance(i, Mapping) for i in items):
            optimizers, schedulers = _from_dicts(items)
        else:
            optimizers = items
    else:
        raise _bad(
            "an optimizer, a list of optimizers, (optimizers, schedulers), a dict with 'optimizer', or a list of dicts",
            value,
        )
    for opt in optimizers:
        if not isinstance(opt, Optimizer):
            raise _bad("torch.optim.Optimizer instances", opt)
    for config in schedulers:
        if not any(config.scheduler.optimizer is opt for opt in optimizers):
            raise _bad("schedulers of the returned optimizers", config.scheduler)
    return optimizers, schedulers


def _from_dicts(items: list[Any]) -> tuple[list[Any], list[LRSchedulerConfig]]:
    optimizers: list[Any] = []
    schedulers: list[LRSchedulerConfig] = []
    allowed = {"optimizer", "lr_scheduler", "monitor"}
    for item in items:
        if "optimizer" not in item or set(item) - allowed:
            raise _bad("a dict with 'optimizer' and optionally 'lr_scheduler' and 'monitor'", item)
        optimizers.append(item["optimizer"])
        if item.get("lr_scheduler") is not None:
            schedulers.append(_scheduler_config(item["lr_scheduler"], item.get("monitor")))
    return optimizers, schedulers


class _NoOptimizer(Optimizer):
    """Stands in when ``configure_optimizers`` returns nothing: steps do nothing, as in Lightning."""

    def __init__(self) -> None:
        super().__init__([torch.zeros(1)], {})

    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        return closure() if closure is not None else None

    def zero_grad(self, set_to_none: bool = True) -> None:
        pass


_SUBCLASSES: dict[type, type] = {}


class LoopOptimizer:
    """What ``optimizer_step`` and ``self.optimizers()`` receive: the optimizer, stepping through the strategy.

    ``step(closure)`` runs the precision's step (scaling, unscaling, the
    ``on_before_optimizer_step`` hooks); every other attribute is the wrapped
    optimizer's. ``optimizer`` is the wrapped optimizer itself. Like Lightning's
    ``LightningOptimizer``, an instance's class also derives from the wrapped
    optimizer's class, so it passes ``isinstance(x, torch.optim.Optimizer)``
    (and the spec's argument checks) without copying any state.
    """

    def __init__(self, optimizer: Optimizer, strategy: Strategy) -> None:
        cls = type(optimizer)
        sub = _SUBCLASSES.get(cls)
        if sub is None:
            sub = _SUBCLASSES[cls] = type(f"Loop{cls.__name__}", (LoopOptimizer, cls), {})
        self.__class__ = sub
        self._optimizer = optimizer
        self._strategy = strategy
        self._after_step: Optional[Callable[[], None]] = None

    @property
    def optimizer(self) -> Optimizer:
        return self._optimizer

    def step(self, closure: Optional[Callable[[], Any]] = None, **kwargs: Any) -> Any:
        out = self._strategy.optimizer_step(self._optimizer, closure, **kwargs)
        if self._after_step is not None:
            self._after_step()
        return out

    def zero_grad(self, set_to_none: bool = True) -> None:
        self._optimizer.zero_grad(set_to_none=set_to_none)

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self._optimizer.param_groups

    def state_dict(self) -> dict[str, Any]:
        return self._optimizer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._optimizer.load_state_dict(state)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_optimizer", "_strategy", "_after_step"):
            raise AttributeError(name)
        return getattr(self._optimizer, name)

    def __repr__(self) -> str:
        return f"LoopOptimizer({self._optimizer!r})"
