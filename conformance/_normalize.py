"""Hook arguments in normalised, JSON-safe form, and traces as versioned JSON.

A recorder cannot keep the objects a hook received (tensors, optimizers, the
checkpoint dict): they are large, change after the call, and differ between
trainers. :func:`normalize` reduces each to what the spec compares:

=====================================  ==========================================
value                                  normalised
=====================================  ==========================================
``None``, bool, int, float, str        itself (an ``Enum`` becomes its value)
``torch.Tensor``                       ``{"shape": [..]}``
``torch.device``                       ``"cpu"``, ``"cuda:0"``
an optimizer (or a wrapper of one)     ``{"optimizer": i}``: its index in what
                                       ``configure_optimizers`` returned
an lr scheduler                        ``{"scheduler": i}``, likewise
a mapping (outputs, checkpoint, ...)   ``{"keys": [sorted keys]}``
a list or tuple                        a list of the normalised items
an exception                           ``{"exception": "TypeName"}``
anything callable (a closure)          ``{"callable": True}``
anything else                          ``{"type": "TypeName"}``
=====================================  ==========================================

Trace files (:func:`dump_trace` / :func:`load_trace`) hold::

    {"schema": "loophooks.trace/1",
     "scenario": "<name>",            # optional
     "meta": {...},                   # optional, free-form (trainer, versions)
     "calls": [{"hook": str, "target": "module"|"callback"|"datamodule",
                "args": {name: normalised value},
                "training": bool|null, "grad": "enabled"|"no_grad"|"inference"|null,
                "device": str|null}, ...]}

An argument the spec leaves free (:data:`~loophooks.spec.ANY`, in expected
traces) is written ``{"$any": true}`` and read back as ``ANY``. A reader must
reject another ``schema`` value; version 1 adds keys only in ``meta``.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import torch

from loophooks.spec import ANY, Call
from loophooks.spec._hook_names import HOOK_NAMES

__all__ = ["SCHEMA", "NormalizeContext", "dump_trace", "grad_mode", "load_trace", "normalize", "tensor_device"]

SCHEMA: Final = "loophooks.trace/1"


@dataclass
class NormalizeContext:
    """What normalisation needs to know about the run: the optimizers and
    schedulers ``configure_optimizers`` returned, in order."""

    optimizers: list[Any] = field(default_factory=list)
    schedulers: list[Any] = field(default_factory=list)


def _unwrap_optimizer(value: Any) -> Any:
    # Lightning hands some hooks a LightningOptimizer wrapping the real one
    inner = getattr(value, "_optimizer", None)
    return inner if isinstance(inner, torch.optim.Optimizer) else value


def _index(items: list[Any], value: Any) -> int | None:
    for i, item in enumerate(items):
        if item is value:
            return i
    return None


def normalize(value: Any, ctx: NormalizeContext | None = None) -> Any:
    """``value`` in the JSON-safe form the spec compares (see the module docstring)."""
    ctx = ctx or NormalizeContext()
    if isinstance(value, enum.Enum):  # first: a str-valued enum is also a str
        return normalize(value.value, ctx)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, torch.Tensor):
        return {"shape": list(value.shape)}
    if isinstance(value, torch.device):
        return str(value) if value.type == "cpu" or value.index is not None else f"{value.type}:0"
    optimizer = _unwrap_optimizer(value)
    if isinstance(optimizer, torch.optim.Optimizer):
        idx = _index([_unwrap_optimizer(o) for o in ctx.optimizers], optimizer)
        return {"optimizer": idx if idx is not None else -1}
    if isinstance(value, torch.optim.lr_scheduler.LRScheduler) or _index(ctx.schedulers, value) is not None:
        idx = _index(ctx.schedulers, value)
        return {"scheduler": idx if idx is not None else -1}
    if isinstance(value, BaseException):
        return {"exception": type(value).__name__}
    if isinstance(value, Mapping):
        return {"keys": sorted(str(k) for k in value)}
    if isinstance(value, (list, tuple)):
        return [normalize(v, ctx) for v in value]
    if callable(value):
        return {"callable": True}
    return {"type": type(value).__name__}


def grad_mode() -> str:
    """The autograd state now: ``"inference"``, ``"no_grad"`` or ``"enabled"``."""
    if torch.is_inference_mode_enabled():
        return "inference"
    return "enabled" if torch.is_grad_enabled() else "no_grad"


def tensor_device(value: Any) -> str | None:
    """Device of the first tensor found in ``value`` (a batch), or ``None``."""
    if isinstance(value, torch.Tensor):
        return normalize(value.device)  # type: ignore[no-any-return]
    if isinstance(value, Mapping):
        items: Sequence[Any] = list(value.values())
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        items = [v for v in vars(value).values()] if hasattr(value, "__dict__") else []
    for item in items:
        found = tensor_device(item)
        if found is not None:
            return found
    return None


def _call_to_json(call: Call) -> dict[str, Any]:
    return {
        "hook": call.hook,
        "target": call.target,
        "args": dict(call.args),
        "training": call.training,
        "grad": call.grad,
        "device": call.device,
    }


def dump_trace(
    calls: Sequence[Call], *, scenario: str | None = None, meta: Mapping[str, Any] | None = None, indent: int | None = 1
) -> str:
    """``calls`` as a ``loophooks.trace/1`` JSON document."""
    doc: dict[str, Any] = {"schema": SCHEMA}
    if scenario is not None:
        doc["scenario"] = scenario
    if meta:
        doc["meta"] = dict(meta)
    doc["calls"] = [_call_to_json(c) for c in calls]
    return json.dumps(doc, indent=indent, default=_encode_any)


_ANY_JSON: Final = "$any"


def _encode_any(value: Any) -> Any:
    if value is ANY:
        return {_ANY_JSON: True}
    raise TypeError(f"dump_trace: {type(value).__name__} {value!r} is not normalised; pass it through normalize()")


def _decode_any(obj: dict[str, Any]) -> Any:
    return ANY if obj == {_ANY_JSON: True} else obj


_TARGETS: Final = ("module", "callback", "datamodule")
_GRADS: Final = ("enabled", "no_grad", "inference")


def load_trace(text: str) -> list[Call]:
    """The calls of a ``loophooks.trace/1`` JSON document; ``ValueError`` names what is wrong."""
    doc = json.loads(text, object_hook=_decode_any)
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        found = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise ValueError(f"trace: expected schema {SCHEMA!r}, got {found!r}")
    calls: list[Call] = []
    for i, raw in enumerate(doc.get("calls", [])):
        if not isinstance(raw, dict) or not isinstance(raw.get("hook"), str):
            raise ValueError(f"trace: calls[{i}]: expected an object with a string 'hook', got {raw!r}")
        target = raw.get("target", "module")
        if target not in _TARGETS:
            raise ValueError(f"trace: calls[{i}].target: expected one of {_TARGETS}, got {target!r}")
        if raw["hook"] not in HOOK_NAMES:
            raise ValueError(f"trace: calls[{i}].hook: expected a hook of loophooks.spec's table, got {raw['hook']!r}")
        grad = raw.get("grad")
        if grad is not None and grad not in _GRADS:
            raise ValueError(f"trace: calls[{i}].grad: expected one of {_GRADS} or null, got {grad!r}")
        args = raw.get("args", {})
        if not isinstance(args, dict):
            raise ValueError(f"trace: calls[{i}].args: expected an object, got {args!r}")
        calls.append(Call(raw["hook"], target, args, training=raw.get("training"), grad=grad, device=raw.get("device")))
    return calls
