"""Loggers: sinks for logged metrics and hyperparameters behind Lightning's small interface.

The loop only calls ``log_metrics``, ``log_hyperparams``, ``log_graph``, ``save`` and
``finalize``; it never knows which sinks exist. :class:`CSVLogger` needs nothing
beyond the standard library; :class:`TensorBoardLogger` needs the ``tensorboard``
package (``pip install loophooks[tensorboard]``).

Files are laid out as Lightning lays them out: ``save_dir/name/version_N/`` holding
``metrics.csv`` (sorted columns, one row per ``log_metrics`` call, ``step`` and
``epoch`` among them) and ``hparams.yaml``. A file that replaces another is written
beside it, flushed to disk, then renamed over it, so a crash leaves the old one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from loophooks.engine import _tensorboard_logger
from loophooks.engine._csv_logger import CSVLogger
from loophooks.engine._errors import ConfigurationError
from loophooks.engine._logger_base import _REQUIRED, Logger, save_hparams_to_yaml
from loophooks.engine._tensorboard_logger import TensorBoardLogger, tensorboard_available

__all__ = [
    "CSVLogger",
    "Logger",
    "TensorBoardLogger",
    "configure_loggers",
    "save_hparams_to_yaml",
    "tensorboard_available",
]


# --- Trainer(logger=...) ------------------------------------------------------------------------------------------------
def _check_logger(logger: Any) -> Any:
    missing = [m for m in _REQUIRED if not callable(getattr(logger, m, None))]
    if missing:
        raise ConfigurationError(
            f"Trainer(logger=...): {type(logger).__name__} is not a logger: it lacks {', '.join(missing)} "
            f"(a logger needs {', '.join(_REQUIRED)}; see loophooks.loggers.Logger)"
        )
    return logger


def configure_loggers(logger: Any, default_root_dir: str) -> list[Any]:
    """The loggers for ``Trainer(logger=...)``: Lightning's default for True/None, none for False."""
    if logger is None or logger is True:
        if _tensorboard_logger.tensorboard_available():  # looked up on the module: tests replace it
            return [TensorBoardLogger(save_dir=default_root_dir)]
        return [CSVLogger(save_dir=default_root_dir)]
    if logger is False:
        return []
    if isinstance(logger, Iterable) and not isinstance(logger, (str, bytes)) and not hasattr(logger, "log_metrics"):
        return [_check_logger(one) for one in logger]
    return [_check_logger(logger)]


def run_log_dir(loggers: list[Any], default_root_dir: str) -> str:
    """``trainer.log_dir``: the first logger's ``log_dir`` for CSV/TensorBoard loggers, its ``save_dir`` otherwise."""
    if not loggers:
        return default_root_dir
    first = loggers[0]
    kind = type(first).__name__
    if kind in ("CSVLogger", "TensorBoardLogger"):  # ours, or Lightning's objects of the same names
        return str(first.log_dir)
    save_dir = getattr(first, "save_dir", None)
    return default_root_dir if save_dir is None else str(save_dir)
