"""The logger interface and what the CSV and TensorBoard loggers share: versioned directories, hparams.yaml.

Files are laid out as Lightning lays them out: ``save_dir/name/version_N/``. A file
that replaces another is written beside it, flushed to disk, then renamed over it,
so a crash leaves the old one. engine/_loggers.py gathers the loggers.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from argparse import Namespace
from collections.abc import Mapping
from enum import Enum
from typing import Any, Optional, Union

from loophooks._files import write_text_durably
from loophooks.engine._errors import ConfigurationError

__all__ = ["Logger", "save_hparams_to_yaml"]

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
                warnings.warn(
                    f"hparams.yaml: skipping {key!r}, which cannot be written as YAML", UserWarning, stacklevel=3
                )
                continue
        elif not _yaml_safe(value):
            warnings.warn(f"hparams.yaml: skipping {key!r}, which cannot be written as YAML", UserWarning, stacklevel=3)
            continue
        allowed[key] = value
    if yaml is not None:
        text = yaml.dump(allowed)
    else:
        text = "\n".join(_yaml_lines(allowed, 0)) + "\n"
    write_text_durably(path, text)


# --- versions ------------------------------------------------------------------------------------------------
def _next_version(root: str) -> int:
    """One more than the highest ``version_N`` directory under ``root`` (0 when there is none)."""
    try:
        names = os.listdir(root)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    found = [
        int(n[len("version_") :])
        for n in names
        if n.startswith("version_") and n[len("version_") :].isdigit() and os.path.isdir(os.path.join(root, n))
    ]
    return max(found) + 1 if found else 0


class _VersionedLogger(Logger):
    """``save_dir/name/version_N`` (or ``save_dir/name/<version>`` for a string version)."""

    def __init__(
        self, save_dir: Union[str, os.PathLike[str]], name: Optional[str], version: Optional[Union[int, str]]
    ) -> None:
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
