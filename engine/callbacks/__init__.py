"""The callbacks that ship with the engine, one module per callback (Lightning's names and options).

Users import them from :mod:`loophooks.callbacks`, as ``pytorch_lightning.callbacks``.
"""

from loophooks.engine.callbacks._base import Callback
from loophooks.engine.callbacks._early_stopping import EarlyStopping, EarlyStoppingReason
from loophooks.engine.callbacks._model_checkpoint import ModelCheckpoint, find_last_checkpoint

__all__ = ["Callback", "EarlyStopping", "EarlyStoppingReason", "ModelCheckpoint", "find_last_checkpoint"]
