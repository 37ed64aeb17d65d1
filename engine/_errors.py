"""Errors the engine raises, and the note it attaches to errors raised by user code."""

from __future__ import annotations

from typing import Any

__all__ = ["CheckpointError", "ConfigurationError", "HookValueError", "add_note", "append_note"]


class ConfigurationError(ValueError):
    """A Trainer option, a model or its data cannot work together; raised before work starts."""


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, unreadable, or lacks what the requested restore needs."""


class HookValueError(TypeError):
    """A hook returned (or was given) a value the engine cannot act on.

    The engine checks the values it acts on even when the spec's runtime checks are
    off; the message names the hook, what was expected and what came.
    """

    def __init__(self, hook: str, parameter: str, expected: str, received: Any) -> None:
        self.hook = hook
        self.parameter = parameter
        self.expected = expected
        self.received = received
        shown = repr(received)
        if len(shown) > 120:
            shown = shown[:117] + "..."
        super().__init__(
            f"{hook}: {parameter} must be {expected}; received {type(received).__name__} {shown}"
        )


_NOTE_PREFIX = "loophooks: raised while running "


def add_note(exc: BaseException, text: str) -> None:
    """Attach ``text`` to ``exc`` once (PEP 678); the first, innermost note wins.

    Python 3.10 has no ``add_note``: the note is kept in ``__notes__`` where
    3.11+ tracebacks would show it, so code reading notes works on both.
    """
    notes = getattr(exc, "__notes__", None)
    if notes and any(isinstance(n, str) and n.startswith(_NOTE_PREFIX) for n in notes):
        return
    note = _NOTE_PREFIX + text
    adder = getattr(exc, "add_note", None)
    if adder is not None:
        adder(note)
        return
    try:
        if notes is None:
            exc.__notes__ = [note]  # type: ignore[attr-defined]
        else:
            notes.append(note)
    except (AttributeError, TypeError):  # an exception type that forbids new attributes
        pass


def append_note(exc: BaseException, text: str) -> None:
    """Append ``text`` to ``exc``'s PEP 678 notes as it is (kept in ``__notes__`` on Python 3.10)."""
    adder = getattr(exc, "add_note", None)
    if adder is not None:
        adder(text)
        return
    try:
        exc.__notes__ = [*getattr(exc, "__notes__", []), text]  # type: ignore[attr-defined]
    except (AttributeError, TypeError):
        pass
