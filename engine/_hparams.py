"""Hyperparameters: ``save_hyperparameters``, ``hparams`` and ``hparams_initial``, as Lightning 2.6 defines them.

A model (or datamodule) calls ``self.save_hyperparameters()`` in ``__init__``;
the arguments its constructors received become ``self.hparams``, are written to
checkpoints under ``hyper_parameters`` and rebuild the object in
``load_from_checkpoint``. The mixin here is shared by ``LoopModule`` and
``LoopDataModule``.
"""

from __future__ import annotations

import copy
import inspect
import types
import warnings
from argparse import Namespace
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any, Optional, Union

from torch import nn

__all__ = ["AttributeDict", "HyperparametersMixin"]


class AttributeDict(dict[str, Any]):
    """A dict whose keys read and write as attributes: ``hparams.lr`` is ``hparams["lr"]``."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError as exc:
            raise AttributeError(f"'AttributeDict' object has no attribute {key!r}") from exc

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value

    def __delattr__(self, key: str) -> None:
        try:
            del self[key]
        except KeyError as exc:
            raise AttributeError(key) from exc

    def __repr__(self) -> str:
        if not self:
            return ""
        width = max(len(repr(k)) for k in self) + 1
        return "\n".join(f"{repr(k) + ':':<{width}} {v}" for k, v in sorted(self.items()))


def _init_frames(obj: Any, frame: Optional[types.FrameType]) -> list[dict[str, Any]]:
    """The arguments each ``__init__`` of ``obj`` on the stack received, innermost (base class) first.

    Values are read from the frames as they are when ``save_hyperparameters`` runs, so an argument the
    constructor reassigned before the call is saved with its new value (Lightning's behaviour).
    """
    found: list[dict[str, Any]] = []
    while frame is not None:
        code = frame.f_code
        local = frame.f_locals
        if code.co_name != "__init__":
            if found:
                break  # past the chain of constructors
            frame = frame.f_back
            continue
        names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
        if not names or local.get(names[0]) is not obj:
            if found:
                break
            frame = frame.f_back
            continue
        args = {n: local[n] for n in names[1:] if n in local}
        if code.co_flags & inspect.CO_VARKEYWORDS:
            extra_name = code.co_varnames[
                code.co_argcount + code.co_kwonlyargcount + bool(code.co_flags & inspect.CO_VARARGS)
            ]
            extra = local.get(extra_name)
            if isinstance(extra, Mapping):
                args.update(extra)
            args.pop(extra_name, None)  # Lightning drops the **kwargs name itself, even when a key repeats it
        found.append(args)
        frame = frame.f_back
    return found


def _as_dict(hp: Any) -> Any:
    if isinstance(hp, Namespace):
        return AttributeDict(vars(hp))
    if isinstance(hp, AttributeDict):
        return hp
    if isinstance(hp, Mapping):
        return AttributeDict(hp)
    if isinstance(hp, str):
        raise TypeError("save_hyperparameters: a string argument names an __init__ argument; no such argument here")
    raise TypeError(
        f"save_hyperparameters takes __init__ argument names, a dict or an argparse.Namespace; received "
        f"{type(hp).__name__}"
    )


class HyperparametersMixin:
    """``save_hyperparameters`` and the ``hparams`` it fills, for models and datamodules."""

    _hparams: MutableMapping[str, Any]
    _hparams_initial: MutableMapping[str, Any]
    _hparams_name: Optional[str]

    def __init__(self) -> None:
        super().__init__()
        self._log_hyperparams = True

    def save_hyperparameters(
        self,
        *args: Any,
        ignore: Optional[Union[Sequence[str], str]] = None,
        frame: Optional[types.FrameType] = None,
        logger: bool = True,
    ) -> None:
        """Store constructor arguments in ``self.hparams`` (all of them, the names given, or one dict/Namespace).

        ``ignore`` drops arguments by name; ``logger=False`` keeps them from the loggers' ``log_hyperparams``.
        """
        object.__setattr__(self, "_log_hyperparams", bool(logger))
        if len(args) == 1 and not isinstance(args[0], str) and not args[0]:
            return  # an empty dict or Namespace: nothing to save (Lightning returns here too)
        if frame is None:
            frame = inspect.currentframe()
            frame = frame.f_back if frame is not None else None
        init_args: dict[str, Any] = {}
        for level in _init_frames(self, frame):  # the base's constructor first: a subclass's value wins
            init_args.update(level)
        if ignore is None:
            ignored: list[str] = []
        elif isinstance(ignore, str):
            ignored = [ignore]
        else:
            ignored = [name for name in ignore if isinstance(name, str)]
        init_args = {k: v for k, v in init_args.items() if k not in ignored}
        objects = [a for a in args if not isinstance(a, str)]
        name: Optional[str]
        if not args:
            hp: Any = init_args
            name = "kwargs" if hp else None
        elif len(objects) == 1:
            hp = objects[0]
            name = next((k for k, v in init_args.items() if _equal(v, hp)), None)
        else:
            missing = [a for a in args if isinstance(a, str) and a not in init_args]
            if missing:
                raise ValueError(
                    f"save_hyperparameters: {missing} are not arguments of {type(self).__name__}.__init__; "
                    f"its arguments are {sorted(init_args)}"
                )
            hp = {a: init_args[a] for a in args if isinstance(a, str)}
            name = "kwargs"
        object.__setattr__(self, "_hparams_name", name)
        hp = _as_dict(hp)
        current = getattr(self, "_hparams", None)
        if isinstance(current, dict):
            current.update(hp)
        else:
            object.__setattr__(self, "_hparams", hp)
        for key in ignored:
            self._hparams.pop(key, None)
        for key, value in self._hparams.items():
            if isinstance(value, nn.Module):
                warnings.warn(
                    f"hyperparameter {key!r} is an nn.Module, whose weights checkpoints already hold; "
                    f"pass save_hyperparameters(ignore=[{key!r}])",
                    UserWarning,
                    stacklevel=2,
                )
        object.__setattr__(self, "_hparams_initial", copy.deepcopy(self._hparams))

    @property
    def hparams(self) -> Union[AttributeDict, MutableMapping[str, Any]]:
        """The saved hyperparameters (an empty ``AttributeDict`` before ``save_hyperparameters``); mutable."""
        if not hasattr(self, "_hparams"):
            object.__setattr__(self, "_hparams", AttributeDict())
        hp: Union[AttributeDict, MutableMapping[str, Any]] = self._hparams
        return hp

    @property
    def hparams_initial(self) -> AttributeDict:
        """A copy of the hyperparameters as ``save_hyperparameters`` stored them, before any later change."""
        if not hasattr(self, "_hparams_initial"):
            return AttributeDict()
        return AttributeDict(copy.deepcopy(self._hparams_initial))


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # objects whose == raises or returns an array: not a match
        return False
