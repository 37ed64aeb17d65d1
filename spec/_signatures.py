"""Signature checks at registration: a model or callback is checked before any work starts.

A trainer calls :func:`verify_module`, :func:`verify_callback` or
:func:`verify_datamodule` when it is handed an object. Each hook the object's class
defines (overrides) is compared with the table:

- the loop calls hooks positionally with the spec's arguments, so an
  implementation must accept each required spec parameter in its position (or
  take ``*args``), and must not require more; leaving out a parameter the loop
  does not always pass is allowed (``Param.passed``): ``dataloader_idx``, passed
  only when there are several loaders, and a step's ``batch_idx``, passed only
  when the step declares it (``training_step(self, batch)``, as in Lightning).
  These are errors (:class:`HookSignatureError`).
- a parameter in the right position under another name still works, but reads as
  a mistake: a warning (:class:`HookSignatureWarning`).
- a method whose name is a near miss of a hook (``on_train_batch_begin``,
  ``on_validation_epoch_ends``) would silently never run: a warning naming the
  hook it resembles.
- ``configure_sharded_model`` is deprecated: a warning, and an error together
  with ``configure_model``.
"""

from __future__ import annotations

import difflib
import inspect
import warnings
from collections.abc import Iterator, Mapping
from typing import Any, Final

import torch

from loophooks.spec._optimizer_config import OptimizerLRScheduler
from loophooks.spec._render import render_hint
from loophooks.spec._table import CALLBACK_HOOKS, DATAMODULE_HOOKS, HOOKS, Hook, Param

__all__ = [
    "HookSignatureError",
    "HookSignatureWarning",
    "is_overridden",
    "overridden_hooks",
    "register_base",
    "render_params",
    "render_returns",
    "render_signature",
    "static_params",
    "verify_callback",
    "verify_datamodule",
    "verify_module",
]


class HookSignatureError(TypeError):
    """A hook's implementation cannot be called the way the spec says it is called."""


class HookSignatureWarning(UserWarning):
    """A hook's implementation looks mistaken: a renamed parameter, a near-miss name, a deprecated hook."""


_bases: set[type] = {object, torch.nn.Module}


def register_base(*classes: type) -> None:
    """Declare classes whose methods are defaults, not user overrides (the spec's Protocols, ``LoopModule``)."""
    _bases.update(classes)


def is_overridden(obj: object, name: str) -> bool:
    """Whether ``obj``'s class (or the instance itself) defines ``name`` outside the registered base classes."""
    instance_dict = getattr(obj, "__dict__", {})
    if name in instance_dict and callable(instance_dict[name]):
        return True
    for cls in type(obj).__mro__:
        if cls in _bases or _is_protocol_class(cls):
            continue
        if name in cls.__dict__:
            return True
    return False


def _is_protocol_class(cls: type) -> bool:
    return bool(getattr(cls, "_is_protocol", False)) and cls.__module__.startswith("loophooks.spec")


def overridden_hooks(obj: object, table: Mapping[str, Hook] = HOOKS) -> Iterator[Hook]:
    """The hooks of ``table`` that ``obj`` overrides, in table order."""
    for hook in table.values():
        if is_overridden(obj, hook.name):
            yield hook


# Type aliases a signature names rather than spells out (the generated modules import them by that name).
_ALIASES: Final[tuple[tuple[object, str], ...]] = ((OptimizerLRScheduler, "OptimizerLRScheduler"),)


def _hint(annotation: Any) -> str:
    for alias, name in _ALIASES:
        if annotation is alias:
            return name
    return render_hint(annotation)


def _default(value: object) -> str:
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    return "..."


def static_params(hook: Hook) -> tuple[list[Param], bool]:
    """The parameters a type checker holds an implementation to, and whether the signature ends in ``*args``.

    The table says when the loop passes each parameter (``Param.passed``); the
    static signature is what every implementation must accept. A parameter passed
    only with several loaders is left out, so an override may declare it (with a
    default) or not. From a parameter passed only when declared (a step's
    ``batch_idx``) on, the signature is ``*args: Any, **kwargs: Any``: both
    ``(self, batch)`` and ``(self, batch, batch_idx)`` override that, and nothing
    narrower than it.
    """
    params: list[Param] = []
    for p in hook.params:
        if p.passed == "if_declared":
            return params, True
        if p.passed != "several_loaders":
            params.append(p)
    return params, False


def render_params(hook: Hook, *, static: bool = False) -> list[str]:
    """``hook``'s parameters as source, ``self`` first: the table's full list (what the loop may pass),
    or with ``static`` the list a type checker holds an override to (:func:`static_params`)."""
    params, gradual = static_params(hook) if static else (list(hook.params), False)
    parts = ["self"]
    for p in params:
        text = f"{p.name}: {_hint(p.annotation)}"
        if not p.required:
            text += f" = {_default(p.default)}"
        parts.append(text)
    if gradual:
        parts += ["*args: Any", "**kwargs: Any"]
    return parts


def render_returns(hook: Hook) -> str:
    """``hook``'s return annotation as source."""
    return _hint(hook.returns)


def render_signature(hook: Hook, *, static: bool = False) -> str:
    """The spec's signature of ``hook`` as Python source, ``name(self, ...) -> R``: the one renderer of a
    hook's signature, for error messages, the generated Protocols and their stubs."""
    return f"{hook.name}({', '.join(render_params(hook, static=static))}) -> {render_returns(hook)}"


_NEAR_MISS_CUTOFF: Final = 0.8


def verify_module(obj: object) -> None:
    """Check a model's overridden hooks against the spec; raise or warn as the module docstring says."""
    _verify(obj, HOOKS, kind="model")
    if is_overridden(obj, "configure_sharded_model"):
        name = type(obj).__name__
        if is_overridden(obj, "configure_model"):
            raise HookSignatureError(
                f"{name} overrides both `configure_model` and the deprecated `configure_sharded_model`;"
                " keep `configure_model` only."
            )
        warnings.warn(
            f"{name}.configure_sharded_model is deprecated; override `configure_model` instead.",
            HookSignatureWarning,
            stacklevel=3,
        )


def verify_datamodule(obj: object) -> None:
    """Check a datamodule against :data:`DATAMODULE_HOOKS`."""
    _verify(obj, DATAMODULE_HOOKS, kind="datamodule")


def verify_callback(obj: object) -> None:
    """Check a callback's overridden hooks against the ``Callback`` table."""
    _verify(obj, CALLBACK_HOOKS, kind="callback")


def _verify(obj: object, table: Mapping[str, Hook], *, kind: str) -> None:
    cls_name = type(obj).__name__
    for hook in overridden_hooks(obj, table):
        _check_signature(obj, cls_name, hook)
    for name in _user_method_names(obj):
        if name in table or name in HOOKS or name in CALLBACK_HOOKS:
            continue
        close = _near_miss(name, table)
        if close and name.startswith(("on_", "configure_", "setup", "teardown", "prepare_")):
            warnings.warn(
                f"{cls_name}.{name} is not a {kind} hook and will never be called; did you mean"
                f" `{render_signature(table[close[0]])}`?",
                HookSignatureWarning,
                stacklevel=4,
            )


# Words people use for the ones the spec uses; a name that only differs by them is a near miss for sure.
_SYNONYMS: Final = (
    ("begin", "start"),
    ("finish", "end"),
    ("ends", "end"),
    ("starts", "start"),
    ("optimiser", "optimizer"),
    ("_val_", "_validation_"),
    ("_eval_", "_validation_"),
    ("training_", "train_"),
    ("_step_", "_batch_"),
)


def _near_miss(name: str, table: Mapping[str, Hook]) -> list[str]:
    canonical = name.strip("_")
    for theirs, ours in _SYNONYMS:
        canonical = canonical.replace(theirs, ours)
    if canonical in table and canonical != name:
        return [canonical]
    return difflib.get_close_matches(name, list(table), n=1, cutoff=_NEAR_MISS_CUTOFF)


def _user_method_names(obj: object) -> Iterator[str]:
    seen: set[str] = set()
    for cls in type(obj).__mro__:
        if cls in _bases or _is_protocol_class(cls):
            continue
        for name, value in vars(cls).items():
            if name.startswith("_") or name in seen or not callable(value):
                continue
            seen.add(name)
            yield name


def _render_params(params: list[inspect.Parameter]) -> str:
    """A user's parameters as they wrote them (annotations unquoted under postponed evaluation)."""
    parts = []
    for p in params:
        stars = "*" if p.kind is p.VAR_POSITIONAL else "**" if p.kind is p.VAR_KEYWORD else ""
        text = stars + p.name
        if p.annotation is not p.empty:
            text += f": {p.annotation if isinstance(p.annotation, str) else render_hint(p.annotation)}"
        if p.default is not p.empty:
            text += f" = {p.default!r}"
        parts.append(text)
    return ", ".join(parts)


def _render_return(sig: inspect.Signature) -> str:
    ann = sig.return_annotation
    if ann is sig.empty:
        return ""
    return f" -> {ann if isinstance(ann, str) else render_hint(ann)}"


def _check_signature(obj: object, cls_name: str, hook: Hook) -> None:
    method = getattr(obj, hook.name)
    try:
        sig = inspect.signature(method)
    except (TypeError, ValueError):  # a builtin or C function: nothing to compare
        return
    params = list(sig.parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    var_args = any(p.kind is p.VAR_POSITIONAL for p in params)
    spec = f"the spec's `{render_signature(hook)}`"
    found = f"`{cls_name}.{hook.name}({_render_params(params)}){_render_return(sig)}`"

    for expected in hook.params[len(positional) :]:
        # A parameter the loop does not always pass (a step's batch_idx, dataloader_idx) may be left out.
        if expected.required and not expected.omittable and not var_args:
            raise HookSignatureError(f"{found} does not take the required parameter `{expected.name}` of {spec}")
    extra = [p for p in positional[len(hook.params) :] if p.default is p.empty] + [
        p for p in params if p.kind is p.KEYWORD_ONLY and p.default is p.empty
    ]
    if extra:
        names = ", ".join(f"`{p.name}`" for p in extra)
        raise HookSignatureError(f"{found} requires {names}, which {spec} never passes")
    for i, (got, expected) in enumerate(zip(positional, hook.params)):
        if got.name != expected.name and got.name.lstrip("_") != expected.name:
            warnings.warn(
                f"{found}: parameter {i + 1} is named `{got.name}` where {spec} names it `{expected.name}`",
                HookSignatureWarning,
                stacklevel=5,
            )
