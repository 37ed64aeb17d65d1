"""The rule that orders monitoring callbacks; the progress bars (engine/_progress.py) re-exported.

The other callbacks live in :mod:`loophooks.engine.callbacks`, one module each;
they are re-exported here for the modules that import them from this one.
"""

from __future__ import annotations

from loophooks.engine._progress import ProgressBar, TQDMProgressBar
from loophooks.engine.callbacks import Callback, EarlyStopping, ModelCheckpoint

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "ProgressBar", "TQDMProgressBar", "is_monitoring_callback"]


def is_monitoring_callback(cb: object) -> bool:
    """Checkpointing and early stopping run after the model's ``on_train_epoch_end`` (Lightning's rule)."""
    return isinstance(cb, (ModelCheckpoint, EarlyStopping)) or bool(getattr(cb, "_loophooks_monitoring", False))
