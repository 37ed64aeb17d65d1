"""Storage and reduction of logged values: one accumulator per (hook, key, loader), reduced on read.

A tensor value keeps a running state shaped by its reduction (weighted sum and
weight for ``mean``, sum for ``sum``, running max/min), plus the last step value.
A metric object (torchmetrics ``Metric``, duck-typed) keeps its own state: the
step value is its forward cache, the epoch value its ``compute()``, and its
``reset()`` runs when the store resets. Distributed reduction (``sync_dist``) is
the entry's own reduction applied across processes, the same shape torchmetrics
uses for its states.

Nothing here knows about loops or metric dictionaries: :mod:`._log_publish` decides
when entries are read and where their values go.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from dataclasses import fields, is_dataclass
from typing import Any, Callable, Optional

import torch
from typing_extensions import final

from loophooks.engine._log_options import LoggingError, LogOptions

__all__ = ["LogEntry", "ResultStore", "extract_batch_size"]

SyncFn = Callable[[torch.Tensor, str, Any], torch.Tensor]


def _sizes(batch: Any) -> Iterator[Optional[int]]:
    if isinstance(batch, torch.Tensor):
        yield 1 if batch.ndim == 0 else int(batch.size(0))
    elif isinstance(batch, Mapping):
        for sample in batch.values():
            yield from _sizes(sample)
    elif isinstance(batch, (str, bytes)):
        yield None
    elif is_dataclass(batch) and not isinstance(batch, type):
        for f in fields(batch):
            yield from _sizes(getattr(batch, f.name))
    elif hasattr(batch, "__iter__"):
        for sample in batch:
            yield from _sizes(sample)
    else:
        yield None


def extract_batch_size(batch: Any) -> int:
    """The batch size Lightning infers: the first dimension of the first tensor found, depth first."""
    if isinstance(batch, torch.Tensor):
        return 1 if batch.ndim == 0 else int(batch.size(0))
    if type(batch) in (tuple, list) and batch:  # the common (x, y) batch, without the generator below
        first = batch[0]
        if isinstance(first, torch.Tensor) and first.ndim:
            first_size = int(first.size(0))
            if all(isinstance(t, torch.Tensor) and t.ndim and t.size(0) == first_size for t in batch):
                return first_size
    found: Optional[int] = None
    try:
        for size in _sizes(batch):
            if found is None:
                found = size
            elif found != size:
                warnings.warn(
                    f"self.log could not tell the batch size from an ambiguous batch; using {found}. "
                    "Pass self.log(..., batch_size=...) to avoid a wrong weighting",
                    UserWarning,
                    stacklevel=4,
                )
                break
    except RecursionError:
        found = None
    if found is None:
        raise LoggingError(
            "self.log could not infer the batch size from the batch (no tensor found); "
            "pass self.log(..., batch_size=...)"
        )
    return found


def _float_dtype() -> torch.dtype:
    dtype = torch.get_default_dtype()
    return dtype if dtype in (torch.float32, torch.float64) else torch.float32


@final
class LogEntry:
    """One logged key's accumulated state."""

    __slots__ = ("computed", "forward_cache", "has_reset", "is_tensor", "metric", "options", "state", "sync", "weight")

    def __init__(self, options: LogOptions, is_tensor: bool, sync: SyncFn) -> None:
        self.options = options
        self.is_tensor = is_tensor
        self.sync = sync  # the strategy's reduce when sync_dist applies, else the identity
        self.metric: Any = None
        self.forward_cache: Optional[torch.Tensor] = None
        self.computed: Any = None
        self.has_reset = False
        self.state = self._default()
        self.weight = 0  # the summed batch sizes of a mean (a tensor only when synced)

    def _default(self) -> torch.Tensor:
        reduce = self.options.reduce
        start = float("-inf") if reduce == "max" else float("inf") if reduce == "min" else 0.0
        return torch.tensor(start, dtype=_float_dtype())

    def update(self, value: Any, batch_size: int) -> None:
        self.computed = None
        self.has_reset = False
        if not self.is_tensor:
            self.metric = value
            self.forward_cache = getattr(value, "_forward_cache", None)
            return
        opts = self.options
        dtype = value.dtype
        if dtype is not torch.float32 and dtype is not torch.float64:
            if not value.is_floating_point():
                warnings.warn(
                    f"self.log({opts.name!r}, ...) in {opts.fx}: the value is not floating point; converting it to "
                    f"{_float_dtype()} to reduce it",
                    UserWarning,
                    stacklevel=4,
                )
            value = value.to(_float_dtype())
        # A 0-dim CPU state combines with a value on any device (torch's scalar rule), so no device checks here.
        if opts.on_step:
            cache = value.clone()  # the caller may change its tensor in place later
            self.forward_cache = cache if self.sync is _identity else self.sync(cache, opts.reduce, opts.sync_group)
            if not opts.on_epoch:
                self.state = self.forward_cache
                return
        reduce = opts.reduce
        if reduce == "mean":
            self.state = torch.add(self.state, value, alpha=batch_size)
            self.weight += batch_size
        elif reduce == "sum":
            self.state = self.state + value
        elif reduce == "max":
            self.state = torch.maximum(self.state, value)
        else:
            self.state = torch.minimum(self.state, value)

    def compute(self) -> Any:
        """The epoch value (cached until the next update or reset)."""
        if self.computed is not None:
            return self.computed
        if self.is_tensor:
            opts = self.options
            if self.sync is _identity:
                value = self.state.clone()
                if opts.reduce == "mean":
                    value = value / self.weight
            else:
                value = self.sync(self.state.clone(), opts.reduce, opts.sync_group)
                if opts.reduce == "mean":  # summed values over summed weights (each synced as Lightning does)
                    weight = torch.tensor(float(self.weight), device=value.device)
                    value = value / self.sync(weight, opts.reduce, opts.sync_group)
            self.computed = value
        else:
            self.computed = self.metric.compute()
        return self.computed

    def reset(self) -> None:
        if self.is_tensor:
            self.state = self._default()
            self.weight = 0
            self.forward_cache = None
        elif self.metric is not None:
            self.metric.reset()
        self.computed = None
        self.has_reset = True


def _identity(value: torch.Tensor, reduce: str, group: Any) -> torch.Tensor:
    return value


@final
class ResultStore:
    """The entries of one loop (training, or one evaluation loop), in the order they were first logged.

    ``batch``/``batch_size`` are the current batch's (batch-size inference looks at
    the batch once per batch); ``dataloader_idx`` is the current evaluation loader
    with several loaders, else ``None``. Only entries of the current loader that were
    updated since their last reset are *valid*: those are what a read publishes.
    """

    __slots__ = ("batch", "batch_size", "dataloader_idx", "entries", "training")

    def __init__(self, training: bool) -> None:
        self.training = training
        self.entries: dict[str, LogEntry] = {}
        self.batch: Any = None
        self.batch_size: Optional[int] = None
        self.dataloader_idx: Optional[int] = None

    def log(self, options: LogOptions, value: Any, batch_size: Optional[int], sync: Optional[SyncFn]) -> None:
        key = options.store_key if options.add_dataloader_idx else f"{options.fx}.{options.name}"
        entry = self.entries.get(key)
        if entry is None:
            entry = LogEntry(options, not _is_metric(value), sync or _identity)
            self.entries[key] = entry
        elif entry.options is not options:  # the same call again reuses its options object: nothing to compare
            changed = entry.options.differences(options)
            if changed:
                raise LoggingError(
                    f"self.log({options.name!r}, ...) was called twice in {options.fx} with different options "
                    f"({', '.join(changed)}); one key keeps one set of options"
                )
            entry.options = options
        if batch_size is None:
            batch_size = self.batch_size
            if batch_size is None:
                batch_size = self._batch_size(entry)
        entry.update(value, batch_size)

    def _batch_size(self, entry: LogEntry) -> int:
        """Infer the batch size once per batch, only for what needs it (a tensor's epoch mean)."""
        opts = entry.options
        if self.batch is not None and entry.is_tensor and opts.on_epoch and opts.reduce == "mean":
            self.batch_size = extract_batch_size(self.batch)
            return self.batch_size
        return 1

    def valid(self) -> Iterator[LogEntry]:
        idx = self.dataloader_idx
        for entry in self.entries.values():
            if not entry.has_reset and entry.options.dataloader_idx == idx:
                yield entry

    def read(self, on_step: bool) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """(callback, logged, progress bar) values of the valid entries, at step or epoch level.

        Progress-bar values stay tensors here; the publisher turns them into numbers when they are read.
        """
        callback: dict[str, torch.Tensor] = {}
        logged: dict[str, torch.Tensor] = {}
        pbar: dict[str, torch.Tensor] = {}
        training = self.training
        for entry in self.valid():
            opts = entry.options
            value: Any = None
            if on_step:
                if opts.on_step:
                    value = entry.forward_cache
            elif opts.on_epoch:
                value = entry.compute()
                if not isinstance(value, torch.Tensor):
                    raise LoggingError(
                        f"the compute() of the metric logged as {opts.name!r} in {opts.fx} must return a tensor; "
                        f"it returned {type(value).__name__}"
                    )
            if not isinstance(value, torch.Tensor):
                continue
            if not entry.is_tensor and not opts.enable_graph:  # logged tensors were detached when logged
                value = value.detach()
            plain, level = opts.keys(on_step)
            if opts.logger:
                logged[level] = value
            if training or (opts.on_epoch and not on_step):
                callback[plain] = value
                callback[level] = value
            if opts.prog_bar:
                pbar[level] = value
        return callback, logged, pbar

    def reset(self, tensors: bool = True, metrics: bool = True, fx: Optional[str] = None) -> None:
        for entry in self.entries.values():
            kind_ok = tensors if entry.is_tensor else metrics
            if not kind_ok:
                continue
            opts = entry.options
            # Lightning's per-hook reset matches the hook name only on keys without a loader suffix
            if fx is None or (opts.fx == fx and (opts.dataloader_idx is None or not opts.add_dataloader_idx)):
                entry.reset()


def _is_metric(value: Any) -> bool:
    return not isinstance(value, torch.Tensor)
