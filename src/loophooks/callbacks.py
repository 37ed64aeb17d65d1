"""Callbacks, where Lightning users look for them: ``from loophooks.callbacks import ModelCheckpoint``.

The classes live in :mod:`loophooks.engine.callbacks`. Lightning callbacks the
engine does not provide raise an ``ImportError`` naming them and saying so,
rather than a bare "cannot import name".
"""

from __future__ import annotations

from typing import Any

from loophooks.engine import callbacks as _engine_callbacks
from loophooks.engine._progress import ProgressBar, TQDMProgressBar
from loophooks.engine._rich_progress import RichProgressBar, RichProgressBarTheme
from loophooks.engine.callbacks import *  # noqa: F403  (the engine's __all__ is the one list of its callbacks)

__all__ = ["ProgressBar", "RichProgressBar", "RichProgressBarTheme", "TQDMProgressBar"]
__all__ += _engine_callbacks.__all__

# Lightning 2.6's callbacks that the engine leaves out on purpose
_NOT_SUPPORTED = frozenset(
    {
        "BackboneFinetuning",
        "BaseFinetuning",
        "BatchSizeFinder",
        "DeviceStatsMonitor",
        "EMAWeightAveraging",
        "LearningRateFinder",
        "ModelPruning",
        "SpikeDetection",
        "StochasticWeightAveraging",
        "ThroughputMonitor",
        "WeightAveraging",
    }
)


def __getattr__(name: str) -> Any:
    if name in _NOT_SUPPORTED:
        raise ImportError(f"loophooks.callbacks.{name}: Lightning's {name} callback is not supported by loophooks")
    raise AttributeError(f"module 'loophooks.callbacks' has no attribute {name!r}")
