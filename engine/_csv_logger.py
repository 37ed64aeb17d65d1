"""CSVLogger: metrics to ``metrics.csv`` (sorted columns, one row per ``log_metrics`` call), hparams to YAML.

Needs nothing beyond the standard library.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from argparse import Namespace
from collections.abc import Mapping
from typing import Any, Optional, Union

from loophooks.engine._errors import ConfigurationError
from loophooks._files import write_text_durably
from loophooks.engine._logger_base import _params, _VersionedLogger, save_hparams_to_yaml

__all__ = ["CSVLogger"]


class _CSVWriter:
    """Buffers rows and appends them to ``metrics.csv``; new columns rewrite the file (durably) with a new header."""

    NAME_METRICS_FILE = "metrics.csv"
    NAME_HPARAMS_FILE = "hparams.yaml"

    def __init__(self, log_dir: str) -> None:
        self.log_dir = log_dir
        self.metrics: list[dict[str, Any]] = []
        self.metrics_keys: list[str] = []
        self.hparams: dict[str, Any] = {}
        self._fh: Optional[io.TextIOWrapper] = None
        self.metrics_file_path = os.path.join(log_dir, self.NAME_METRICS_FILE)
        if os.path.isdir(log_dir) and os.listdir(log_dir):
            warnings.warn(
                f"the log directory {log_dir} exists and is not empty; its metrics.csv is replaced by this run's",
                UserWarning,
                stacklevel=4,
            )
            if os.path.isfile(self.metrics_file_path):
                os.remove(self.metrics_file_path)
        os.makedirs(log_dir, exist_ok=True)

    def log_metrics(self, metrics: Mapping[str, Any], step: Optional[int] = None) -> None:
        row = {k: (v.item() if hasattr(v, "item") else v) for k, v in metrics.items()}
        row["step"] = len(self.metrics) if step is None else step
        self.metrics.append(row)

    def log_hparams(self, params: Mapping[str, Any]) -> None:
        self.hparams.update(params)
        save_hparams_to_yaml(os.path.join(self.log_dir, self.NAME_HPARAMS_FILE), self.hparams)

    def save(self) -> None:
        if not self.metrics:
            return
        new_keys = set().union(*self.metrics) - set(self.metrics_keys)
        keys = sorted([*self.metrics_keys, *new_keys]) if new_keys else self.metrics_keys
        if new_keys:
            self._close()
            exists = os.path.isfile(self.metrics_file_path)
            if exists:  # a new column: rewrite the whole file beside the old one, then swap
                with open(self.metrics_file_path, newline="", encoding="utf-8") as fh:
                    old_rows = list(csv.DictReader(fh))
                buffer = io.StringIO()
                writer = csv.DictWriter(buffer, fieldnames=keys)
                writer.writeheader()
                writer.writerows(old_rows)
                writer.writerows(self.metrics)
                write_text_durably(self.metrics_file_path, buffer.getvalue())
            else:
                buffer = io.StringIO()
                writer = csv.DictWriter(buffer, fieldnames=keys)
                writer.writeheader()
                writer.writerows(self.metrics)
                write_text_durably(self.metrics_file_path, buffer.getvalue())
        else:
            # Rows under known columns are appended through one open handle (Lightning saves after every
            # log_metrics call; reopening the file each time would cost more than the logging itself).
            if self._fh is None:
                self._fh = open(self.metrics_file_path, "a", newline="", encoding="utf-8")
            csv.DictWriter(self._fh, fieldnames=keys).writerows(self.metrics)
            self._fh.flush()
        # only now: a failed write keeps the rows and the old columns, so the next save retries all of it
        self.metrics_keys = keys
        self.metrics = []

    def _close(self) -> None:
        fh, self._fh = self._fh, None
        if fh is not None:
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()

    def close(self) -> None:
        """Write what is buffered and make the file durable."""
        self.save()
        self._close()


class CSVLogger(_VersionedLogger):
    """Metrics to ``save_dir/name/version_N/metrics.csv``, hyperparameters to ``hparams.yaml`` (Lightning's layout).

    Args:
        save_dir: where the ``name`` directory goes.
        name: experiment directory (``"lightning_logs"``); ``None`` or ``""`` writes versions into ``save_dir``.
        version: an int gives ``version_N``, a str names the directory; ``None`` takes the next free ``version_N``.
        prefix: put before every metric key (joined with ``-``).
        flush_logs_every_n_steps: also write the buffered rows every this many steps.
    """

    LOGGER_JOIN_CHAR = "-"

    def __init__(
        self,
        save_dir: Union[str, os.PathLike[str]],
        name: Optional[str] = "lightning_logs",
        version: Optional[Union[int, str]] = None,
        prefix: str = "",
        flush_logs_every_n_steps: int = 100,
    ) -> None:
        super().__init__(save_dir, name, version)
        if (
            isinstance(flush_logs_every_n_steps, bool)
            or not isinstance(flush_logs_every_n_steps, int)
            or flush_logs_every_n_steps < 1
        ):
            raise ConfigurationError(
                f"CSVLogger(flush_logs_every_n_steps=...) must be an int >= 1; received {flush_logs_every_n_steps!r}"
            )
        self._prefix = prefix
        self._flush_every = flush_logs_every_n_steps
        self._experiment: Optional[_CSVWriter] = None

    @property
    def experiment(self) -> _CSVWriter:
        if self._experiment is None:
            os.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _CSVWriter(self.log_dir)
        return self._experiment

    def log_hyperparams(self, params: Union[dict[str, Any], Namespace, None] = None, *args: Any, **kwargs: Any) -> None:
        self.experiment.log_hparams(_params(params))

    def log_metrics(self, metrics: Mapping[str, Any], step: Optional[int] = None) -> None:
        if self._prefix:
            metrics = {f"{self._prefix}{self.LOGGER_JOIN_CHAR}{k}": v for k, v in metrics.items()}
        experiment = self.experiment
        if step is None:
            step = len(experiment.metrics)
        experiment.log_metrics(metrics, step)
        if (step + 1) % self._flush_every == 0:
            self.save()

    def save(self) -> None:
        self.experiment.save()

    def finalize(self, status: str) -> None:
        if self._experiment is not None:
            self._experiment.close()
