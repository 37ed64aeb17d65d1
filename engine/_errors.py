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
        super().__init__(f"{hook}: {parameter} must be {expected}; received {type(received).__name__} {shown}")


_NOTE_PREFIX = "loophooks: raised while running "


def add_note(exc: BaseException, text: str) -> None:
    """Attach ``text`` to ``exc`` once (PEP 678); the first, innermost note wins.

    Python 3.10 has no ``add_note``: the note is kept in ``__notes__`` where
    3.11+ tracebacks would show it, so code reading notes works on both.
    Never raises: it runs on error paths, where an error of its own would
    replace the user's.
    """
    try:
        notes = getattr(exc, "__notes__", None)
        if isinstance(notes, list) and any(isinstance(n, str) and n.startswith(_NOTE_PREFIX) for n in notes):
            return
    except Exception:  # a __notes__ property or __eq__ that raises: treat as no notes
        notes = None
    _append(exc, notes, _NOTE_PREFIX + text)


def append_note(exc: BaseException, text: str) -> None:
    """Attach ``text`` to ``exc`` as one more note (no once-only rule); never raises."""
    try:
        notes = getattr(exc, "__notes__", None)
    except Exception:
        notes = None
    _append(exc, notes, text)


def _append(exc: BaseException, notes: Any, note: str) -> None:
    """Add ``note`` to ``exc.__notes__``, whatever the user left there.

    PEP 678 wants a list of strings, but any object may sit in ``__notes__``
    (a tuple, a string, None); ``BaseException.add_note`` then raises
    TypeError. A string or a sequence of strings is kept, as the first notes
    of a new list; anything else is kept as its ``repr``. An exception type
    that forbids the attribute goes without the note.
    """
    try:
        if isinstance(notes, list):
            notes.append(note)
            return
        if notes is None:
            kept: list[str] = []
        elif isinstance(notes, str):
            kept = [notes]
        elif isinstance(notes, (tuple, set, frozenset)) and all(isinstance(n, str) for n in notes):
            kept = list(notes)
        else:
            kept = [f"(__notes__ was {type(notes).__name__} {notes!r:.200})"]
        exc.__notes__ = [*kept, note]  # type: ignore[attr-defined]
    except Exception:  # an exception type that forbids new attributes, or a repr that raises
        pass
