"""Where callbacks' messages go: the ``loophooks`` logger at INFO, shown on stderr as Lightning shows its own.

Lightning's ``rank_zero_info`` writes to the ``lightning.pytorch`` logger, which
has a stream handler unless the application configured logging itself. The
``loophooks`` logger does the same, so ``verbose=True`` and the model summary are
seen by default and silenced or redirected with the standard ``logging`` module.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["info", "logger"]

logger = logging.getLogger("loophooks")
_configured = False


def _configure() -> None:
    global _configured
    _configured = True
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    if not logging.getLogger().hasHandlers() and not logger.handlers:
        logger.addHandler(logging.StreamHandler())
        logger.propagate = False


def info(trainer: Any, message: str, *, rank_zero_only: bool = True) -> None:
    """Log ``message`` at INFO, on global rank 0 only unless ``rank_zero_only=False``."""
    if rank_zero_only and not getattr(trainer, "is_global_zero", True):
        return
    if not _configured:
        _configure()
    logger.info(message)
