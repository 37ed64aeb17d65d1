"""Profilers, where Lightning users look for them: ``from loophooks.profilers import SimpleProfiler``.

The classes live in :mod:`loophooks.engine._profilers`; ``Trainer(profiler=...)`` takes one of them or
``"simple"``, ``"advanced"``, ``"pytorch"``.
"""

from __future__ import annotations

from loophooks.engine._profilers import (
    AdvancedProfiler,
    PassThroughProfiler,
    Profiler,
    PyTorchProfiler,
    SimpleProfiler,
)

__all__ = ["AdvancedProfiler", "PassThroughProfiler", "Profiler", "PyTorchProfiler", "SimpleProfiler"]
