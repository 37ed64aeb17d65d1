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

import csv
import io
import math
import os
import re
import tempfile
import warnings
from argparse import Namespace
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any, Optional, Union

from loophooks.engine._errors import ConfigurationError

__all__ = [
    "CSVLogger",
    "Logger",
    "TensorBoardLogger",
    "configure_loggers",
    "save_hparams_to_yaml",
    "tensorboard_available",
]

_REQUIRED = ("log_metrics", "log_hyperparams", "save", "finalize")


class Logger:
    """Base for loggers (Lightning's interface): subclass and implement ``log_metrics`` and ``log_hyperparams``.

    ``name`` and ``version`` identify the run; ``save_dir``/``root_dir``/``log_dir``
    say where it writes (``None`` for a logger that writes no files).
    """

    @property
    def name(self) -> Optional[str]:
        return None

    @property
    def version(self) -> Optional[Union[int, str]]:
        return None

    @property
    def root_dir(self) -> Optional[str]:
        return None

    @property
    def log_dir(self) -> Optional[str]:
        return None

    @property
    def save_dir(self) -> Optional[str]:
        return None

    @property
    def group_separator(self) -> str:
        return "/"

    @property
    def experiment(self) -> Any:
        """The object the logger writes through (a file writer, a SummaryWriter, ...)."""
        return None

    def log_metrics(self, metrics: dict[str, float], step: Optional[int] = None) -> None:
        raise NotImplementedError(f"{type(self).__name__}.log_metrics")

    def log_hyperparams(self, params: Union[dict[str, Any], Namespace], *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__}.log_hyperparams")

    def log_graph(self, model: Any, input_array: Any = None) -> None:
        """Record the model's graph; nothing by default."""

    def save(self) -> None:
        """Write what is buffered; nothing by default."""

    def finalize(self, status: str) -> None:
        """The run ended (``"success"``, ``"failed"``): write what is left."""
        self.save()

    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        """A checkpoint was written; nothing by default."""


def _params(params: Union[Mapping[str, Any], Namespace, None]) -> dict[str, Any]:
    if params is None:
        return {}
    if isinstance(params, Namespace):
        return dict(vars(params))
    if isinstance(params, Mapping):
        return dict(params)
    raise ConfigurationError(
        f"log_hyperparams(params=...) must be a dict or an argparse.Namespace; received {type(params).__name__}"
    )


def _durable_write(path: str, text: str) -> None:
    """Write ``text`` to ``path`` so that a crash leaves either the old file or the new one, never a torn one."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix="-" + os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:  # already renamed or never created: nothing to clean
            pass
        raise
    try:  # make the rename itself durable where the platform allows it
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:  # some filesystems refuse fsync on a directory
        pass
    finally:
        os.close(dfd)


# --- hparams.yaml ----------------------------------------------------------------------------------------
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_ ./-]*$")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        if "e" in text and "." not in text.split("e")[0]:  # YAML 1.1 reads 1e-05 as a string; 1.0e-05 is a float
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent}"
        return text
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _YAML_WORDS and not text.endswith(" "):
        return text
    return "'" + text.replace("'", "''") + "'"


def _yaml_lines(value: Any, indent: int) -> list[str]:
    pad = "  " * indent
    if isinstance(value, Mapping):
        if not value:
            return [pad + "{}"]
        lines = []
        for key in sorted(value, key=str):
            item = value[key]
            if isinstance(item, (Mapping, list, tuple)) and item:
                lines.append(f"{pad}{_yaml_scalar(key)}:")
                lines.extend(_yaml_lines(item, indent + (1 if isinstance(item, Mapping) else 0)))
            else:
                lines.append(f"{pad}{_yaml_scalar(key)}: {_yaml_inline(item)}")
        return lines
    if isinstance(value, (list, tuple)):
        if not value:
            return [pad + "[]"]
        lines = []
        for item in value:
            if isinstance(item, (Mapping, list, tuple)) and item:
                sub = _yaml_lines(item, indent + 1)
                lines.append(f"{pad}- {sub[0].lstrip()}")
                lines.extend(sub[1:])
            else:
                lines.append(f"{pad}- {_yaml_inline(item)}")
        return lines
    return [pad + _yaml_scalar(value)]


def _yaml_inline(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, (list, tuple)):
        return "[]"
    return _yaml_scalar(value)


def _yaml_safe(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_yaml_safe(v) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, (str, int)) and _yaml_safe(v) for k, v in value.items())
    return False


def save_hparams_to_yaml(path: str, hparams: Union[Mapping[str, Any], Namespace]) -> None:
    """Write ``hparams`` as Lightning's ``hparams.yaml`` (values YAML cannot hold are skipped with a warning).

    With PyYAML installed the text is PyYAML's own (byte for byte Lightning's file);
    without it a small emitter writes the same data for plain values.
    """
    params = _params(hparams)
    allowed: dict[str, Any] = {}
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        yaml = None
    for key, value in params.items():
        value = value.name if isinstance(value, Enum) else value
        if yaml is not None:
            try:
                yaml.dump(value)
            except (TypeError, ValueError):
                warnings.warn(f"hparams.yaml: skipping {key!r}, which cannot be written as YAML", UserWarning, stacklevel=3)
                continue
        elif not _yaml_safe(value):
            warnings.warn(f"hparams.yaml: skipping {key!r}, which cannot be written as YAML", UserWarning, stacklevel=3)
            continue
        allowed[key] = value
    if yaml is not None:
        text = yaml.dump(allowed)
    else:
        text = "\n".join(_yaml_lines(allowed, 0)) + "\n"
    _durable_write(path, text)


# --- versions ------------------------------------------------------------------------------------------------
def _next_version(root: str) -> int:
    """One more than the highest ``version_N`` directory under ``root`` (0 when there is none)."""
    try:
        names = os.listdir(root)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    found = [
        int(n[len("version_"):])
        for n in names
        if n.startswith("version_") and n[len("version_"):].isdigit() and os.path.isdir(os.path.join(root, n))
    ]
    return max(found) + 1 if found else 0


class _VersionedLogger(Logger):
    """``save_dir/name/version_N`` (or ``save_dir/name/<version>`` for a string version)."""

    def __init__(self, save_dir: Union[str, os.PathLike[str]], name: Optional[str], version: Optional[Union[int, str]]) -> None:
        self._save_dir = os.fspath(save_dir)
        self._name = name or ""
        self._version = version

    @property
    def name(self) -> str:
        return self._name

    @property
    def version(self) -> Union[int, str]:
        if self._version is None:
            self._version = _next_version(self.root_dir)
        return self._version

    @property
    def save_dir(self) -> str:
        return self._save_dir

    @property
    def root_dir(self) -> str:
        return os.path.join(self._save_dir, self._name)

    @property
    def log_dir(self) -> str:
        version = self.version
        return os.path.join(self.root_dir, version if isinstance(version, str) else f"version_{version}")


# --- CSV ----------------------------------------------------------------------------------------------------------
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
                _durable_write(self.metrics_file_path, buffer.getvalue())
            else:
                buffer = io.StringIO()
                writer = csv.DictWriter(buffer, fieldnames=keys)
                writer.writeheader()
                writer.writerows(self.metrics)
                _durable_write(self.metrics_file_path, buffer.getvalue())
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
        if isinstance(flush_logs_every_n_steps, bool) or not isinstance(flush_logs_every_n_steps, int) or flush_logs_every_n_steps < 1:
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


# --- TensorBoard -----------------------------------------------------------------------------------------------------
def tensorboard_available() -> bool:
    """Whether the ``tensorboard`` package is importable (what ``logger=True`` picks TensorBoard by)."""
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


class TensorBoardLogger(_VersionedLogger):
    """Metrics as TensorBoard scalars in ``save_dir/name/version_N/``; hyperparameters also in ``hparams.yaml``.

    Needs the ``tensorboard`` package: ``pip install loophooks[tensorboard]``.
    ``default_hp_metric`` logs ``hp_metric=-1`` with the hyperparameters, as Lightning does.
    """

    NAME_HPARAMS_FILE = "hparams.yaml"

    def __init__(
        self,
        save_dir: Union[str, os.PathLike[str]],
        name: Optional[str] = "lightning_logs",
        version: Optional[Union[int, str]] = None,
        log_graph: bool = False,
        default_hp_metric: bool = True,
        prefix: str = "",
        sub_dir: Optional[Union[str, os.PathLike[str]]] = None,
        **kwargs: Any,
    ) -> None:
        if not tensorboard_available():
            raise ModuleNotFoundError(
                "TensorBoardLogger needs the 'tensorboard' package: pip install 'loophooks[tensorboard]' "
                "(or use CSVLogger, which needs nothing)"
            )
        super().__init__(save_dir, name, version)
        self._log_graph = log_graph
        self._default_hp_metric = default_hp_metric
        self._prefix = prefix
        self._sub_dir = None if sub_dir is None else os.fspath(sub_dir)
        self._kwargs = kwargs
        self.hparams: dict[str, Any] = {}
        self._experiment: Any = None

    @property
    def log_dir(self) -> str:
        base = super().log_dir
        return os.path.join(base, self._sub_dir) if self._sub_dir else base

    @property
    def experiment(self) -> Any:
        if self._experiment is None:
            from torch.utils.tensorboard import SummaryWriter

            os.makedirs(self.root_dir, exist_ok=True)
            self._experiment = SummaryWriter(log_dir=self.log_dir, **self._kwargs)
        return self._experiment

    def log_metrics(self, metrics: Mapping[str, Any], step: Optional[int] = None) -> None:
        for key, value in metrics.items():
            key = f"{self._prefix}-{key}" if self._prefix else key
            value = value.item() if hasattr(value, "item") else value
            if isinstance(value, Mapping):
                self.experiment.add_scalars(key, value, step)
            else:
                self.experiment.add_scalar(key, value, step)

    def log_hyperparams(
        self, params: Union[dict[str, Any], Namespace, None] = None, metrics: Optional[dict[str, Any]] = None, step: Optional[int] = None
    ) -> None:
        params = _params(params)
        self.hparams.update(params)
        if metrics is None and self._default_hp_metric:
            metrics = {"hp_metric": -1}
        if metrics:
            from torch.utils.tensorboard.summary import hparams as hparams_summary

            flat = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in params.items()}
            exp, ssi, sei = hparams_summary(flat, metrics)  # type: ignore[no-untyped-call]
            writer = self.experiment._get_file_writer()
            writer.add_summary(exp)
            writer.add_summary(ssi)
            writer.add_summary(sei)
            self.log_metrics(metrics, step)

    def log_graph(self, model: Any, input_array: Any = None) -> None:
        if not self._log_graph:
            return
        example = getattr(model, "example_input_array", None) if input_array is None else input_array
        if example is None:
            warnings.warn("TensorBoardLogger(log_graph=True): the model has no example_input_array", UserWarning, stacklevel=2)
            return
        self.experiment.add_graph(model, example)

    def save(self) -> None:
        if self._experiment is not None:
            self._experiment.flush()
        path = os.path.join(self.log_dir, self.NAME_HPARAMS_FILE)
        if os.path.isdir(self.log_dir) and not os.path.isfile(path):
            save_hparams_to_yaml(path, self.hparams)

    def finalize(self, status: str) -> None:
        if self._experiment is not None:
            self._experiment.flush()
            self._experiment.close()
        if status == "success":
            self.save()


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
        if tensorboard_available():
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
