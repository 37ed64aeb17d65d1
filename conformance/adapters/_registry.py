"""Choosing the trainer under test: built-in names, or ``package.module:factory``.

The target is named by one string (``--loophooks-adapter``, ``LOOPHOOKS_ADAPTER``,
``loophooks check --adapter``). It is resolved with ``importlib`` and ``getattr``
only, never evaluated: ``pkg.mod:attr`` imports ``pkg.mod`` and takes ``attr``
(dots walk attributes). A class or a function is called without arguments to make
the adapter; anything else must already be one.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from loophooks.conformance._adapter import CAPABILITIES, Adapter

__all__ = [
    "BUILTIN_ADAPTERS",
    "DEFAULT_ADAPTER",
    "ENV_ADAPTER",
    "AdapterError",
    "builtin_deviations",
    "check_adapter",
    "load_adapter",
]

ENV_ADAPTER: Final = "LOOPHOOKS_ADAPTER"
DEFAULT_ADAPTER: Final = "engine"

BUILTIN_ADAPTERS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "engine": "loophooks.conformance.adapters.engine:EngineAdapter",
        "lightning": "loophooks.conformance.adapters.lightning:LightningAdapter",
    }
)
"""Short names for the adapters shipped with loophooks."""

_HERE: Final = Path(__file__).resolve().parent

_MEMBERS: Final = ("name", "capabilities", "module_base", "callback_base", "datamodule_base", "run")


class AdapterError(ValueError):
    """The adapter named could not be loaded, or what it names is not an adapter."""


def builtin_deviations(adapter: object) -> Path | None:
    """The deviations file shipped for a built-in adapter (the spec's deliberate
    differences from that trainer), or ``None`` for any other adapter.

    ``adapter`` is an adapter or a built-in name. An adapter is recognised by its
    class, not its ``name``, so another package's adapter never inherits the file.
    """
    if isinstance(adapter, str):
        name = adapter if adapter in BUILTIN_ADAPTERS else None
    else:
        cls = type(adapter)
        where = f"{cls.__module__}:{cls.__qualname__}"
        name = next((n for n, target in BUILTIN_ADAPTERS.items() if target == where), None)
    if name is None:
        return None
    # shipped beside the adapter, as package data: ``<name>_deviations.json``
    path = _HERE / f"{name}_deviations.json"
    return path if path.is_file() else None


def _resolve(target: str) -> Any:
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise AdapterError(
            f"adapter {target!r}: expected a built-in name ({', '.join(BUILTIN_ADAPTERS)}) or 'package.module:factory'"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise AdapterError(f"adapter {target!r}: cannot import {module_name!r}: {error}") from error
    obj: Any = module
    for part in attr.split("."):
        if not part.isidentifier():
            raise AdapterError(f"adapter {target!r}: {attr!r} is not a dotted attribute name")
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AdapterError(f"adapter {target!r}: {module_name!r} has no attribute {attr!r}") from None
    return obj


def check_adapter(adapter: Any, source: str) -> Adapter:
    """``adapter`` if it has every member of the protocol and known capabilities; else ``AdapterError``."""
    # getattr_static: a property may import the trainer, which is work, not a check
    missing = [m for m in _MEMBERS if _static(adapter, m) is _MISSING]
    if missing:
        raise AdapterError(
            f"adapter {source!r}: {type(adapter).__name__} lacks {', '.join(missing)} (see loophooks.conformance.Adapter)"
        )
    if not callable(getattr(adapter, "run")):
        raise AdapterError(f"adapter {source!r}: {type(adapter).__name__}.run is not callable")
    capabilities = getattr(adapter, "capabilities")
    if not isinstance(capabilities, (set, frozenset)):
        raise AdapterError(f"adapter {source!r}: capabilities must be a frozenset, got {type(capabilities).__name__}")
    unknown = sorted(set(capabilities) - CAPABILITIES)
    if unknown:
        raise AdapterError(
            f"adapter {source!r}: unknown capabilities {unknown}; known: {', '.join(sorted(CAPABILITIES))}"
        )
    return adapter  # type: ignore[no-any-return]


_MISSING: Final = object()


def _static(obj: Any, name: str) -> Any:
    try:
        return inspect.getattr_static(obj, name)
    except AttributeError:
        return _MISSING


def load_adapter(target: str | None = None) -> Adapter:
    """The adapter named by ``target``, ``$LOOPHOOKS_ADAPTER``, or the default (``engine``)."""
    name = target or os.environ.get(ENV_ADAPTER) or DEFAULT_ADAPTER
    obj = _resolve(BUILTIN_ADAPTERS.get(name, name))
    if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismethod(obj):
        try:
            obj = obj()
        except Exception as error:
            raise AdapterError(
                f"adapter {name!r}: calling {getattr(obj, '__qualname__', obj)!r} failed: {error}"
            ) from error
    return check_adapter(obj, name)
