"""What the engine does when an entry point fails: every ``on_exception`` runs, the original error propagates.

Lightning calls the callbacks' ``on_exception`` one after another and stops at
the first that raises; the datamodule's never runs and the original error is
replaced by the handler's. Here each handler runs whatever the others did:

    strategy.on_exception(error)          # DDP: stop the other processes
    callback.on_exception(...) for each   # in the callbacks' order
    datamodule.on_exception(error)
    strategy.teardown()

A handler that fails does not stop the others. When all have run, the
*original* error propagates (same object, same traceback); each handler's
failure is attached to it as a PEP 678 note naming the handler and its error,
and kept, as the exception objects, in ``error.__loophooks_handler_errors__``.
Notes rather than an ``ExceptionGroup``: the caller's ``except`` clauses keep
matching the error type it raised, on every supported Python (3.10 has no
``ExceptionGroup``), and tracebacks on 3.11+ show the notes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from loophooks.engine._errors import append_note

if TYPE_CHECKING:
    from loophooks.engine._trainer import Trainer

__all__ = ["HANDLER_ERRORS", "run_exception_handlers"]

HANDLER_ERRORS = "__loophooks_handler_errors__"
"""Attribute of the original error: the exceptions its handlers raised, in order."""


def _describe(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {exc}"
    except Exception:  # a __str__ that raises
        return type(exc).__name__


def _owner(fn: Callable[..., Any]) -> str:
    owner = getattr(fn, "__self__", None)
    return type(owner).__name__ if owner is not None else getattr(fn, "__qualname__", repr(fn))


def run_exception_handlers(trainer: Trainer, error: BaseException) -> None:
    """Run every handler of ``error`` (see the module docstring); never raises."""
    failures: list[BaseException] = []

    def attempt(what: str, call: Callable[[], Any]) -> None:
        try:
            call()
        except BaseException as other:  # noqa: BLE001 - a handler's failure must not hide the original
            if other is error:  # a handler re-raised the error it was given: nothing new to report
                return
            failures.append(other)
            append_note(error, f"loophooks: {what} raised {_describe(other)} while handling this error")

    strategy = trainer._ctx.strategy
    d = trainer._ctx.dispatch
    attempt("the strategy's on_exception", lambda: strategy.on_exception(error))
    if d is not None:
        for fn in d.callbacks_with("on_exception"):

            def call(fn: Callable[..., Any] = fn) -> None:
                d.call_callback("on_exception", fn, error)

            attempt(f"callback {_owner(fn)}.on_exception", call)
        dm = trainer.datamodule
        if dm is not None:
            attempt(f"datamodule {type(dm).__name__}.on_exception", lambda: d.datamodule_hook("on_exception", error))
    metrics = getattr(trainer, "_metrics", None)
    if metrics is not None:  # Lightning: every logger's finalize("failed") runs before the teardown
        attempt("the loggers' finalize('failed')", lambda: metrics.finalize("failed"))
    attempt("the strategy's teardown", strategy.teardown)
    if failures:
        try:
            setattr(error, HANDLER_ERRORS, [*getattr(error, HANDLER_ERRORS, []), *failures])
        except Exception:  # an exception type that forbids new attributes; the notes still say it
            pass
