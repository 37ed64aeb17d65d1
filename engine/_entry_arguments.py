"""The arguments of the Trainer's entry points (``fit``, ``validate``, ``test``, ``predict``, ``save_checkpoint``).

Checked before any work starts, as engine/_options.py checks the Trainer's options.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from loophooks.engine._errors import ConfigurationError
from loophooks.engine._options import _shown

__all__ = ["check_entry_arguments"]

_LOADER_HOOKS = ("train_dataloader", "val_dataloader", "test_dataloader", "predict_dataloader")


def check_entry_arguments(fn: str, **arguments: Any) -> None:
    """The arguments of ``fit``/``validate``/``test``/``predict``/``save_checkpoint``, checked before any work.

    A model class instead of an instance, a ``ckpt_path`` or ``filepath`` that is not a
    path, a non-bool flag, or a ``datamodule`` with no loader hook (it would be ignored)
    each raise :class:`ConfigurationError` naming the argument.
    """
    arguments.pop("self", None)  # the Trainer passes its locals()
    model = arguments.get("model")
    if isinstance(model, type):
        raise ConfigurationError(
            f"{fn}(model=...) received the class {model.__name__}, not an instance: pass {model.__name__}(...)"
        )
    for name in ("ckpt_path", "filepath"):
        if name in arguments:
            value = arguments[name]
            if (value is not None or name == "filepath") and not isinstance(value, (str, os.PathLike)):
                raise ConfigurationError(
                    f"{fn}({name}=...) must be {'' if name == 'filepath' else 'None, '}a str or an os.PathLike; "
                    f"received {type(value).__name__} {_shown(value)}"
                )
    for name in ("weights_only", "verbose", "return_predictions"):
        if name in arguments:
            value = arguments[name]
            if not isinstance(value, bool) and not (value is None and name == "return_predictions"):
                raise _entry_flag(fn, name, value)
    for name in ("train_dataloaders", "val_dataloaders", "dataloaders"):
        loaders = arguments.get(name)
        if loaders is not None and not isinstance(loaders, Iterable) and not _is_datamodule(loaders):
            raise ConfigurationError(
                f"{fn}({name}=...) must be a DataLoader (or another iterable of batches), a list or dict of them, "
                f"or a datamodule; received {type(loaders).__name__} {_shown(loaders)}"
            )
    datamodule = arguments.get("datamodule")
    if datamodule is not None and not any(callable(getattr(datamodule, h, None)) for h in _LOADER_HOOKS):
        raise ConfigurationError(
            f"{fn}(datamodule=...) must be a datamodule (with at least one of {', '.join(_LOADER_HOOKS)}); "
            f"received {type(datamodule).__name__} {_shown(datamodule)}"
        )


def _is_datamodule(obj: Any) -> bool:
    return any(callable(getattr(obj, h, None)) for h in _LOADER_HOOKS)


def _entry_flag(fn: str, name: str, value: Any) -> ConfigurationError:
    return ConfigurationError(
        f"{fn}({name}=...) must be True or False; received {type(value).__name__} {_shown(value)}"
    )
