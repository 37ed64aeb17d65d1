"""Small helpers shared by the option tests: one job written once, run under Lightning and under the engine."""

from __future__ import annotations

import types
import warnings
from typing import Any

import torch
from torch.utils.data import DataLoader, TensorDataset

import loophooks

pl: Any
try:
    import pytorch_lightning as pl
except ImportError:  # the tests that need it skip
    pl = None

BOTH = ("lightning", "engine")


def api(kind: str) -> Any:
    """The namespace a job imports: ``pytorch_lightning``, or ``loophooks`` with Lightning's class names."""
    if kind == "lightning":
        return pl
    ns = types.SimpleNamespace(**{n: getattr(loophooks, n) for n in loophooks.__all__ if n != "__version__"})
    ns.LightningModule = loophooks.LoopModule
    ns.LightningDataModule = loophooks.LoopDataModule
    return ns


def trainer(kind: str, **options: Any) -> Any:
    """A quiet Trainer: no logger, progress bar, summary or checkpointing unless asked."""
    options.setdefault("enable_progress_bar", False)
    options.setdefault("enable_checkpointing", False)
    options.setdefault("enable_model_summary", False)
    if kind == "lightning":
        options.setdefault("logger", False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return api(kind).Trainer(**options)


def data(n: int = 16, features: int = 2, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    return TensorDataset(x, x.sum(1, keepdim=True) * 0.5 + 0.1)


def loader(n: int = 16, batch_size: int = 4, **kw: Any) -> DataLoader[Any]:
    return DataLoader(data(n), batch_size=batch_size, **kw)


def quiet(fn: Any, *args: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)
