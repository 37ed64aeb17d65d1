"""loophooks.engine: a small, fast reference Trainer with Lightning's hook order and option names."""

from loophooks.engine._callbacks import Callback, EarlyStopping, ModelCheckpoint, ProgressBar
from loophooks.engine._progress import TQDMProgressBar
from loophooks.engine._rich_progress import RichProgressBar
from loophooks.engine._checkpoint import VERSION_KEY, load_checkpoint
from loophooks.engine._ddp import DDPStrategy
from loophooks.engine._dispatch import Dispatcher
from loophooks.engine._errors import CheckpointError, ConfigurationError, HookValueError
from loophooks.engine._module import LoopDataModule, LoopModule
from loophooks.engine._optimization import LoopOptimizer, LRSchedulerConfig
from loophooks.engine._signals import SIGTERMException
from loophooks.engine._state import LoopState
from loophooks.engine._strategy import Strategy
from loophooks.engine._trainer import Trainer

__all__ = [
    "VERSION_KEY",
    "Callback",
    "CheckpointError",
    "ConfigurationError",
    "DDPStrategy",
    "Dispatcher",
    "EarlyStopping",
    "HookValueError",
    "LRSchedulerConfig",
    "LoopDataModule",
    "LoopModule",
    "LoopOptimizer",
    "LoopState",
    "ModelCheckpoint",
    "ProgressBar",
    "RichProgressBar",
    "SIGTERMException",
    "TQDMProgressBar",
    "Strategy",
    "Trainer",
    "load_checkpoint",
]
