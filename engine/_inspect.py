"""What the engine learns from a hook's code and signature, once per run: does it do anything, what does it take."""

from __future__ import annotations

import dis
import inspect
from typing import Any, Final

__all__ = ["STEPS", "does_nothing", "step_arguments"]

# What a body that does nothing compiles to, by Python version: ``pass``, ``...``, a docstring
# and ``return None`` all load None and return it (the constant's index varies, so compare values).
_NOTHING: Final = ([("LOAD_CONST", None), ("RETURN_VALUE", None)], [("RETURN_CONST", None)])
_IGNORED_OPS: Final = frozenset({"RESUME", "NOP", "CACHE"})


def does_nothing(fn: Any) -> bool:
    """Whether ``fn``'s body only returns None (``pass``, ``...``, a docstring, ``return None``)."""
    code = getattr(getattr(fn, "__func__", fn), "__code__", None)
    if code is None:
        return False
    ops = [(i.opname, i.argval) for i in dis.get_instructions(code) if i.opname not in _IGNORED_OPS]
    return ops in _NOTHING


STEPS: Final = ("training_step", "validation_step", "test_step", "predict_step")
"""The step methods whose calling convention (``batch_idx``, ``dataloader_idx``) the engine matches."""


def step_arguments(fn: Any) -> tuple[bool, bool]:
    """Whether step method ``fn`` takes ``batch_idx``, and whether it takes ``dataloader_idx``.

    A missing method counts as taking ``batch_idx`` and not ``dataloader_idx`` (the run
    checks for it before it needs it); a builtin whose signature is unknown takes both.
    """
    if fn is None:
        return True, False
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # a builtin or C function: assume it takes what it is given
        return True, True
    var = any(p.kind is p.VAR_POSITIONAL for p in params)
    takes_idx = True
    if params:
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        takes_idx = var or len(positional) >= 2
    return takes_idx, var or any(p.name == "dataloader_idx" for p in params)
