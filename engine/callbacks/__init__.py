"""The callbacks that ship with the engine, one module per callback (Lightning's names and options).

Users import them from :mod:`loophooks.callbacks`, as ``pytorch_lightning.callbacks``.
"""

from loophooks.engine.callbacks._base import Callback, Checkpoint
from loophooks.engine.callbacks._early_stopping import EarlyStopping, EarlyStoppingReason
from loophooks.engine.callbacks._gradient_accumulation import GradientAccumulationScheduler
from loophooks.engine.callbacks._lambda import LambdaCallback
from loophooks.engine.callbacks._lr_monitor import LearningRateMonitor
from loophooks.engine.callbacks._model_checkpoint import ModelCheckpoint
from loophooks.engine.callbacks._model_summary import ModelSummary
from loophooks.engine.callbacks._on_exception_checkpoint import OnExceptionCheckpoint
from loophooks.engine.callbacks._prediction_writer import BasePredictionWriter
from loophooks.engine.callbacks._rich_model_summary import RichModelSummary
from loophooks.engine.callbacks._timer import Timer

__all__ = [
    "BasePredictionWriter",
    "Callback",
    "Checkpoint",
    "EarlyStopping",
    "EarlyStoppingReason",
    "GradientAccumulationScheduler",
    "LambdaCallback",
    "LearningRateMonitor",
    "ModelCheckpoint",
    "ModelSummary",
    "OnExceptionCheckpoint",
    "RichModelSummary",
    "Timer",
]
