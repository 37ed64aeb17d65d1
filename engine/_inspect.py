"""What the engine learns from a hook's code and signature, once per run: does it do anything, what does it take."""

from __future__ import annotations

import dis
import inspect
from typing import Any, Final

__all__ = ["STEPS", "does_nothing", "loader_idx_arguments", "step_arguments"]

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


def step_arguments(fn: Any) -> bool:
    """Whether step method ``fn`` takes ``batch_idx`` (Lightning passes it only then).

    A missing method counts as taking it (the run checks for the method before it
    needs it); so does a builtin whose signature is unknown.
    """
    if fn is None:
        return True
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # a builtin or C function: assume it takes what it is given
        return True
    if not params:
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return any(p.kind is p.VAR_POSITIONAL for p in params) or len(positional) >= 2


def loader_idx_arguments(fn: Any) -> tuple[bool, bool]:
    """Whether ``fn`` accepts ``dataloader_idx`` (by name or ``*args``), and whether it requires it.

    A missing method accepts nothing; one whose signature is unknown accepts it and requires nothing.
    """
    if fn is None:
        return False, False
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return True, False
    idx = params.get("dataloader_idx")
    accepts = idx is not None or any(p.kind is p.VAR_POSITIONAL for p in params.values())
    return accepts, idx is not None and idx.default is idx.empty
