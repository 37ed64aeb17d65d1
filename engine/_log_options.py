"""``self.log``'s options: checked against the hook they come from, resolved to one immutable record.

Everything here runs before a value is stored, so a refused call changes nothing.
Errors name the key, the hook and the rule (spec/_logging.py holds the rules).
"""

from __future__ import annotations

import builtins
import numbers
import warnings
from typing import Any, Callable, NamedTuple, Optional, Union

import torch
from typing_extensions import final

from loophooks.engine._errors import ConfigurationError
from loophooks.spec._logging import LOGGING

__all__ = [
    "LogOptions",
    "LogRequest",
    "LoggingError",
    "metric_attribute_of",
    "reduction_name",
    "resolve_levels",
    "resolve_options",
    "to_value",
]


class LoggingError(ConfigurationError):
    """``self.log`` was called in a way Lightning refuses: the message names the key, the hook and the rule."""


class LogRequest(NamedTuple):
    """The options of a ``self.log`` call as the user gave them (``batch_size`` aside, it changes per batch).

    ``LoopModule.log``/``log_dict`` build one and the engine passes it on whole: the
    argument list is written in the public signatures and here, nowhere else. A tuple,
    so the publisher compares a call with the last one from the same place in one
    ``==`` and reuses the :class:`LogOptions` it resolved then.
    """

    prog_bar: bool
    logger: Optional[bool]
    on_step: Optional[bool]
    on_epoch: Optional[bool]
    reduce_fx: Union[str, Callable[..., Any]]
    enable_graph: bool
    sync_dist: bool
    sync_dist_group: Any
    add_dataloader_idx: bool
    metric_attribute: Optional[str]
    rank_zero_only: bool


_REDUCE_CALLABLES: dict[Any, str] = {
    torch.mean: "mean",
    torch.sum: "sum",
    builtins.sum: "sum",
    torch.max: "max",
    builtins.max: "max",
    torch.min: "min",
    builtins.min: "min",
}


def reduction_name(name: str, hook: str, reduce_fx: Union[str, Callable[..., Any]]) -> str:
    """``reduce_fx`` as one of ``mean``/``sum``/``max``/``min`` (Lightning accepts nothing else)."""
    if isinstance(reduce_fx, str):
        fx = reduce_fx.lower()
        fx = "mean" if fx == "avg" else fx
        if fx in ("mean", "sum", "max", "min"):
            return fx
    else:
        try:
            known = _REDUCE_CALLABLES.get(reduce_fx)
        except TypeError:  # an unhashable callable: not one of the known reductions
            known = None
        if known is not None:
            return known
    raise LoggingError(
        f"self.log({name!r}, ..., reduce_fx={reduce_fx!r}) in {hook}: reduce_fx must be 'mean', 'sum', 'max' or "
        "'min' (or torch.mean/sum/max/min); for another reduction log a torchmetrics Metric instead"
    )


def resolve_levels(
    name: str, hook: Optional[str], on_step: Optional[bool], on_epoch: Optional[bool]
) -> tuple[bool, bool]:
    """``on_step``/``on_epoch`` for a call from ``hook``: the hook's defaults filled in, then checked."""
    if hook is None:
        raise LoggingError(
            f"self.log({name!r}, ...) was called outside any hook the Trainer runs; log from a hook or a step method"
        )
    if hook not in LOGGING:
        raise LoggingError(f"self.log({name!r}, ...) in {hook}: logging is not supported in this hook")
    levels = LOGGING[hook]
    if levels is None:
        raise LoggingError(
            f"self.log({name!r}, ...) in {hook}: this hook may not log (nothing would publish the value); "
            "log directly to the logger with self.logger.log_metrics"
        )
    step = levels.default_on_step if on_step is None else bool(on_step)
    epoch = levels.default_on_epoch if on_epoch is None else bool(on_epoch)
    if step not in levels.allowed_on_step:
        raise LoggingError(
            f"self.log({name!r}, ..., on_step={step}) in {hook}: on_step must be one of {levels.allowed_on_step} there"
        )
    if epoch not in levels.allowed_on_epoch:
        raise LoggingError(
            f"self.log({name!r}, ..., on_epoch={epoch}) in {hook}: on_epoch must be one of {levels.allowed_on_epoch} there"
        )
    if not step and not epoch:
        raise LoggingError(
            f"self.log({name!r}, ..., on_step=False, on_epoch=False) in {hook}: the value would go nowhere"
        )
    return step, epoch


def is_metric_object(value: Any) -> bool:
    """A torchmetrics ``Metric`` (duck-typed: ``update``, ``compute``, ``reset`` and a forward cache)."""
    return (
        callable(getattr(value, "compute", None))
        and callable(getattr(value, "reset", None))
        and callable(getattr(value, "update", None))
        and hasattr(value, "_forward_cache")
    )


def to_value(name: str, hook: str, value: Any, device: torch.device) -> Any:
    """The value to store: a metric object as given, anything else a one-element tensor (or an error)."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise LoggingError(
                f"self.log({name!r}, ...) in {hook}: the value must be a tensor with one element; received shape "
                f"{tuple(value.shape)} (log value.mean() or another reduction of it)"
            )
        return value.squeeze()
    if is_metric_object(value):
        return value
    if isinstance(value, numbers.Number) and not isinstance(value, complex):
        dtype = torch.get_default_dtype()
        if dtype not in (torch.float32, torch.float64):
            dtype = torch.float32
        return torch.tensor(value, device=device, dtype=dtype)
    raise LoggingError(
        f"self.log({name!r}, ...) in {hook}: {type(value).__name__} values cannot be logged; "
        "expected a number, a one-element tensor or a torchmetrics Metric"
    )


@final
class LogOptions:
    """One logged key's options after defaults are resolved; two calls for one key must agree on all of them."""

    __slots__ = (
        "add_dataloader_idx",
        "dataloader_idx",
        "enable_graph",
        "fx",
        "logger",
        "metric_attribute",
        "name",
        "on_epoch",
        "on_step",
        "prog_bar",
        "rank_zero_only",
        "reduce",
        "sync",
        "store_key",
        "sync_group",
        "_keys",
    )

    def __init__(
        self,
        *,
        fx: str,
        name: str,
        prog_bar: bool,
        logger: bool,
        on_step: bool,
        on_epoch: bool,
        reduce: str,
        enable_graph: bool,
        add_dataloader_idx: bool,
        dataloader_idx: Optional[int],
        metric_attribute: Optional[str],
        sync: bool,
        sync_group: Any,
        rank_zero_only: bool,
    ) -> None:
        self.fx = fx
        self.name = name
        self.prog_bar = prog_bar
        self.logger = logger
        self.on_step = on_step
        self.on_epoch = on_epoch
        self.reduce = reduce
        self.enable_graph = enable_graph
        self.add_dataloader_idx = add_dataloader_idx
        self.dataloader_idx = dataloader_idx
        self.metric_attribute = metric_attribute
        self.sync = sync
        self.sync_group = sync_group
        self.rank_zero_only = rank_zero_only
        self._keys = (self._make_keys(True), self._make_keys(False))  # published every batch: built once
        suffix = f".{dataloader_idx}" if dataloader_idx is not None else ""
        self.store_key = f"{fx}.{name}{suffix}"  # the store's key (Lightning's: hook, name, loader)

    @property
    def forked(self) -> bool:
        """Logged at both levels: published as ``name_step`` and ``name_epoch`` besides ``name``."""
        return self.on_step and self.on_epoch

    def keys(self, on_step: bool) -> tuple[str, str]:
        """(plain key, level key) for publishing at step or epoch level, with the loader suffix."""
        return self._keys[0] if on_step else self._keys[1]

    def _make_keys(self, on_step: bool) -> tuple[str, str]:
        plain = self.name
        level = f"{plain}_{'step' if on_step else 'epoch'}" if self.forked else plain
        if self.add_dataloader_idx and self.dataloader_idx is not None:
            suffix = f"/dataloader_idx_{self.dataloader_idx}"
            return plain + suffix, level + suffix
        return plain, level

    def differences(self, other: LogOptions) -> list[str]:
        """The option names whose values differ between ``self`` and ``other``."""
        return [
            s
            for s in self.__slots__
            if s not in ("sync_group", "_keys", "store_key") and getattr(self, s) != getattr(other, s)
        ] + (["sync_dist_group"] if self.sync_group is not other.sync_group else [])


def metric_attribute_of(module: Any, name: str, fx: str, value: Any) -> str:
    """The attribute of ``module`` holding the logged metric object (Lightning needs it to restore state)."""
    found: dict[int, str] = (
        {id(m): n for n, m in module.named_modules() if is_metric_object(m)}
        if isinstance(module, torch.nn.Module)
        else {}
    )
    if not found:
        raise LoggingError(
            f"self.log({name!r}, <metric>) in {fx}: the metric object must be an attribute of the module "
            "(assign it in __init__), or pass metric_attribute="
        )
    attribute = found.get(id(value))
    if attribute is None:
        raise LoggingError(
            f"self.log({name!r}, <metric>) in {fx}: this metric object is not an attribute of the module; pass "
            f"metric_attribute= naming one of {sorted(found.values())}"
        )
    return attribute


def resolve_options(
    request: LogRequest,
    *,
    module: Any,
    fx: Optional[str],
    name: str,
    value: Any,
    dataloader_idx: Optional[int],
    has_loggers: bool,
    distributed: bool,
) -> LogOptions:
    """Check one ``self.log`` call's options (Lightning's rules) and resolve its defaults."""
    if not isinstance(name, str):
        raise LoggingError(f"self.log(name={name!r}, ...): the name must be a str")
    if isinstance(value, dict):
        raise LoggingError(
            f"self.log({name!r}, ...) in {fx}: a dict cannot be logged under one name; use self.log_dict"
        )
    step, epoch = resolve_levels(name, fx, request.on_step, request.on_epoch)
    assert fx is not None
    if request.add_dataloader_idx and "/dataloader_idx_" in name:
        raise LoggingError(
            f"self.log({name!r}, ...) in {fx}: the name must not contain '/dataloader_idx_' while "
            "add_dataloader_idx=True (the index is added for you)"
        )
    reduce = reduction_name(name, fx, request.reduce_fx)
    metric_attribute = request.metric_attribute
    if metric_attribute is None and is_metric_object(value):
        metric_attribute = metric_attribute_of(module, name, fx, value)
    if request.logger and not has_loggers:
        # stack: here, MetricsPublisher.log, LoopModule.log, the user's call
        warnings.warn(f"self.log({name!r}, ..., logger=True) in {fx}, but the Trainer has no logger", stacklevel=4)
    return LogOptions(
        fx=fx,
        name=name,
        prog_bar=bool(request.prog_bar),
        logger=True if request.logger is None else bool(request.logger),
        on_step=step,
        on_epoch=epoch,
        reduce=reduce,
        enable_graph=bool(request.enable_graph),
        add_dataloader_idx=bool(request.add_dataloader_idx),
        dataloader_idx=dataloader_idx,
        metric_attribute=metric_attribute,
        sync=bool(request.sync_dist) and distributed and not request.rank_zero_only,
        sync_group=request.sync_dist_group,
        rank_zero_only=bool(request.rank_zero_only),
    )
