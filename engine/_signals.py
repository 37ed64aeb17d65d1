"""SIGTERM and SIGINT during a run, handled the way Lightning 2.6 handles them.

SIGTERM (a scheduler's or a container's "stop now") does not kill the process
mid-step. While an entry point runs, the engine's handler only records it; the
loops then raise :class:`SIGTERMException` at the next batch boundary (after
``on_train_batch_end`` and any validation it triggers; after an evaluation or
predict batch), so no hook, optimizer step or checkpoint write is cut in half.
The exception runs every ``on_exception`` (engine/_faults.py), where a callback
can save a checkpoint, then propagates. A handler that was installed before the
run (yours, or a cluster tool's) is still called, after the engine's.

``SIGTERMException`` is a ``SystemExit`` (as Lightning's), so an uncaught one ends
the process quietly; its exit status is 143 (128 + SIGTERM, the shell's status
for a process ended by SIGTERM) where Lightning's is 0: a job stopped this way
must not look like one that finished.

SIGINT (Ctrl+C) raises ``KeyboardInterrupt`` wherever Python is, as usual. While
the ``on_exception`` handlers run for it, further SIGINTs are ignored (Lightning's
rule: an impatient second Ctrl+C must not cut the clean-up short), and the
previous SIGINT handler is put back afterwards (Lightning leaves SIGINT ignored
for the rest of the process).

Handlers can only be installed from the main thread; a run in another thread
keeps the process's handlers unchanged.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, Optional

from typing_extensions import final

__all__ = ["SIGTERMException", "SignalGuard", "sigint_ignored"]

_SIGTERM_STATUS = 128 + int(signal.SIGTERM)


class SIGTERMException(SystemExit):
    """The process received SIGTERM during a run; raised by the loops at the next batch boundary."""

    def __init__(self) -> None:
        super().__init__(_SIGTERM_STATUS)

    def __str__(self) -> str:
        return "the process received SIGTERM; the run stopped at a batch boundary"


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@final
class SignalGuard:
    """Records SIGTERM while a run is in progress; :meth:`check` raises at the loops' safe points."""

    __slots__ = ("_installed", "_previous", "received_sigterm")

    def __init__(self) -> None:
        self.received_sigterm = False
        self._installed = False
        self._previous: Any = None

    def install(self) -> None:
        """Start recording SIGTERM (main thread only); the handler found is kept and chained."""
        self.received_sigterm = False
        if self._installed or not _main_thread():
            return
        previous = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum: int, frame: Optional[FrameType]) -> None:
            self.received_sigterm = True
            if callable(previous):
                previous(signum, frame)

        signal.signal(signal.SIGTERM, on_sigterm)
        self._previous = previous
        self._installed = True

    def restore(self) -> None:
        """Put the handler found by :meth:`install` back; never raises (it runs on error paths too)."""
        if not self._installed:
            return
        self._installed = False
        try:
            signal.signal(signal.SIGTERM, self._previous if self._previous is not None else signal.SIG_DFL)
        except (ValueError, TypeError, OSError):  # not the main thread any more, or an odd previous handler
            pass

    def check(self) -> None:
        """Raise :class:`SIGTERMException` if SIGTERM arrived; the loops call this between batches."""
        if self.received_sigterm:
            raise SIGTERMException()


@contextmanager
def sigint_ignored(active: bool) -> Iterator[None]:
    """Ignore SIGINT inside the block when ``active`` (the handlers of a KeyboardInterrupt run), then restore it."""
    if not active or not _main_thread():
        yield
        return
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except (ValueError, TypeError, OSError):
        yield
        return
    try:
        yield
    finally:
        try:
            signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
        except (ValueError, TypeError, OSError):
            pass
