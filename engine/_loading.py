"""``load_from_checkpoint``: rebuild a model or datamodule from a checkpoint's hyperparameters and weights.

Lightning's rules: the constructor receives ``hyper_parameters`` updated with the
caller's keyword arguments (filtered to the constructor's parameters unless it
takes ``**kwargs``; wrapped under the argument's name when a single dict or
Namespace was saved), then ``configure_model`` (when overridden),
``on_load_checkpoint`` and ``load_state_dict``. The model is moved to the device
of the loaded weights and keeps the mode a fresh instance has (train).

Unlike Lightning, files load with ``torch.load(weights_only=True)`` unless the
caller passes ``weights_only=False``: the same safe default as the Trainer's
``ckpt_path``.
"""

from __future__ import annotations

import inspect
import os
import warnings
from typing import IO, Any, Callable, Optional, Union

import torch

from loophooks.engine._checkpoint import load_checkpoint
from loophooks.engine._errors import CheckpointError, ConfigurationError

__all__ = ["HPARAMS_KEY", "HPARAMS_NAME_KEY", "DATAMODULE_HPARAMS_KEY", "DATAMODULE_HPARAMS_NAME_KEY", "load_object"]

HPARAMS_KEY = "hyper_parameters"
HPARAMS_NAME_KEY = "hparams_name"
DATAMODULE_HPARAMS_KEY = "datamodule_hyper_parameters"
DATAMODULE_HPARAMS_NAME_KEY = "datamodule_hparams_name"

MapLocation = Union[str, torch.device, Callable[..., Any], dict[str, str], None]


def _init_parameters(cls: type) -> tuple[list[str], bool]:
    """The constructor's named parameters (no self, *args, **kwargs) and whether it takes ``**kwargs``."""
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]  # type: ignore[misc]
    named = [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    return named, any(p.kind is p.VAR_KEYWORD for p in params)


def _read(
    path: Union[str, os.PathLike[str], IO[bytes]], map_location: MapLocation, weights_only: bool
) -> dict[str, Any]:
    if isinstance(path, (str, os.PathLike)):
        checkpoint = load_checkpoint(path, weights_only=weights_only)
        if map_location is not None:  # load_checkpoint reads onto the CPU; move as asked
            checkpoint["state_dict"] = {k: _move(v, map_location) for k, v in checkpoint["state_dict"].items()}
        return checkpoint
    loaded = torch.load(path, map_location=map_location, weights_only=weights_only)  # a file object
    if not isinstance(loaded, dict) or "state_dict" not in loaded:
        raise CheckpointError("load_from_checkpoint: the file is not a training checkpoint (no 'state_dict' entry)")
    return loaded


def _move(value: Any, map_location: MapLocation) -> Any:
    if not isinstance(value, torch.Tensor):
        return value
    if isinstance(map_location, (str, torch.device)):
        return value.to(map_location)
    if isinstance(map_location, dict):
        target = map_location.get(str(value.device))
        return value.to(target) if target is not None else value
    return value


def load_object(
    cls: type,
    checkpoint_path: Union[str, os.PathLike[str], IO[bytes]],
    *,
    kind: str,
    map_location: MapLocation = None,
    hparams_file: Any = None,
    strict: Optional[bool] = None,
    weights_only: Optional[bool] = None,
    **kwargs: Any,
) -> Any:
    """Build ``cls`` from a checkpoint; ``kind`` is ``"module"`` or ``"datamodule"``."""
    if hparams_file is not None:
        raise ConfigurationError(
            "load_from_checkpoint(hparams_file=...) is not supported: the hyperparameters come from the checkpoint "
            "and the keyword arguments"
        )
    if callable(map_location) and not isinstance(map_location, (str, torch.device, dict)):
        raise ConfigurationError(
            "load_from_checkpoint(map_location=<function>) is not supported; pass a device, a string or a dict"
        )
    checkpoint = _read(checkpoint_path, map_location, True if weights_only is None else weights_only)
    key = HPARAMS_KEY if kind == "module" else DATAMODULE_HPARAMS_KEY
    name_key = HPARAMS_NAME_KEY if kind == "module" else DATAMODULE_HPARAMS_NAME_KEY
    saved = dict(checkpoint.get(key) or {})
    saved.update(kwargs)
    checkpoint[key] = saved
    named, takes_kwargs = _init_parameters(cls)
    args_name = checkpoint.get(name_key)
    loaded: dict[str, Any] = dict(saved)
    if args_name and args_name in named:  # one dict/Namespace argument was saved: pass it back whole
        loaded = {args_name: saved}
    loaded.update(kwargs)
    if not takes_kwargs:
        loaded = {k: v for k, v in loaded.items() if k in named}
    obj = cls(**loaded)
    if kind == "datamodule":
        state = checkpoint.get(type(obj).__qualname__)
        if state is not None:
            obj.load_state_dict(state)
        return obj
    own = getattr(obj, "_strict_loading", None)
    if own is not None and strict is not None and strict != own:
        raise ConfigurationError(
            f"load_from_checkpoint(strict={strict!r}) contradicts {cls.__name__}.strict_loading={own!r}; "
            "set the same value for both"
        )
    strict = (own if own is not None else True) if strict is None else strict
    from loophooks.engine._dispatch import is_overridden

    if is_overridden(obj, "configure_model"):
        obj.configure_model()
    obj.on_load_checkpoint(checkpoint)
    try:
        keys = obj.load_state_dict(checkpoint["state_dict"], strict=strict)
    except RuntimeError as exc:  # missing or unexpected keys, wrong shapes
        raise CheckpointError(f"checkpoint {checkpoint_path!r} does not fit {cls.__name__}: {exc}") from exc
    if not strict:
        if keys.missing_keys:
            warnings.warn(
                f"keys of the model missing from the checkpoint: {keys.missing_keys}", UserWarning, stacklevel=3
            )
        if keys.unexpected_keys:
            warnings.warn(f"keys of the checkpoint the model lacks: {keys.unexpected_keys}", UserWarning, stacklevel=3)
    tensors = [t for t in checkpoint["state_dict"].values() if isinstance(t, torch.Tensor)]
    if tensors:
        obj.to(tensors[0].device)
    return obj
