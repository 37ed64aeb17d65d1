"""Fixtures for tests whose outcome depends on whether the optional ``rich`` package is installed.

Lightning 2.6 and the engine pick ``RichProgressBar`` and ``RichModelSummary`` as their
defaults where ``rich`` is installed. A test about the plain defaults pins them with
``without_rich_defaults`` (on both sides); a test about rich's drawing records rich's
global console with ``rich_console``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def without_rich_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both Lightning and the engine choose their defaults as if ``rich`` were not installed."""
    from loophooks.engine import _extras

    monkeypatch.setattr(_extras, "rich_available", lambda: False)
    try:
        from pytorch_lightning.trainer.connectors import callback_connector
    except ImportError:
        return
    monkeypatch.setattr(callback_connector, "_RICH_AVAILABLE", False)


@pytest.fixture
def rich_console() -> Iterator[Any]:
    """rich's global console, writing to a buffer at 100 columns in truecolor, as a terminal; restored after.

    ``rich_console.file.getvalue()`` is what was printed, escape codes included.
    """
    rich = pytest.importorskip("rich")
    saved = rich._console
    rich._console = None
    rich.reconfigure(file=io.StringIO(), width=100, force_terminal=True, color_system="truecolor")
    try:
        yield rich.get_console()
    finally:
        rich._console = saved
