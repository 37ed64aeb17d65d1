"""The engine's one calling convention for hooks, written once.

Every hook call the engine makes runs through a function made here, once per run
for each resolved hook function (``ready``):

    state.hook = name                      # the running hook, for error notes and self.log
    try:
        [checks on]  the spec's argument checks
        value = fn(*args, **kwargs)
        [checks on]  the spec's return check (not for callbacks, whose returns are ignored)
        return value
    except BaseException as exc:
        note "<owner> hook <name> at <where the run is>" (the first, innermost note wins)
        raise
    finally:
        state.hook = what it was before

Making the function once per run is what keeps a call cheap: the checks are
compiled (``loophooks.spec.call_checks``), the owner and the note are known, and
a call is one extra frame around the hook's own.

One exception, for speed: in a run without checks and without a profiler, the
dispatcher's three hot entry points (``module_hook``, ``hook``, ``callback_hooks``)
hold the raw functions and run the unchecked form above inline, saving that frame
on every call (the hook-call benchmark measures it); the default bodies the fused
optimizer step runs without their frames (engine/_fused_step.py, engine/_step.py) are noted with
:func:`note_as`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Literal, Optional

from loophooks.engine._errors import add_note

if TYPE_CHECKING:
    from loophooks.engine._state import LoopState
    from loophooks.spec._checks import CallChecks
    from loophooks.spec._hook_names import HookName

__all__ = ["Target", "ready"]

Target = Literal["module", "datamodule", "callback"]

_NOTE: dict[str, str] = {"module": "model", "datamodule": "datamodule", "callback": "callback"}

Fn = Callable[..., Any]


def ready(fn: Fn, name: HookName, target: Target, state: LoopState, checks: Optional[CallChecks]) -> Fn:
    """``fn`` (the resolved hook function of ``target``) wrapped in the calling convention above."""
    note = f"{_NOTE[target]} hook {name}"
    if checks is None:

        def call(*args: Any, **kwargs: Any) -> Any:
            prev = state.hook
            state.hook = name
            try:
                return fn(*args, **kwargs)
            except BaseException as exc:
                add_note(exc, f"{note} at {state.where()}")
                raise
            finally:
                state.hook = prev

        return call
    owner = getattr(fn, "__self__", fn)
    check_args = checks.args
    check_result = None if target == "callback" else checks.returned

    def checked(*args: Any, **kwargs: Any) -> Any:
        prev = state.hook
        state.hook = name
        try:
            check_args(args, kwargs, owner)
            value = fn(*args, **kwargs)
            if check_result is not None:
                check_result(value, args, kwargs, owner)
            return value
        except BaseException as exc:
            add_note(exc, f"{note} at {state.where()}")
            raise
        finally:
            state.hook = prev

    return checked


def note_as(exc: BaseException, name: HookName, state: LoopState) -> None:
    """The convention's note for the default bodies the engine runs without their frames (engine/_fused_step.py)."""
    add_note(exc, f"model hook {name} at {state.where()}")
