"""The callbacks the Trainer adds by itself, from its options (Lightning's rules, one place)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Union

from loophooks.engine import _extras
from loophooks.engine.callbacks._info import info
from loophooks.engine.callbacks._model_summary import ModelSummary
from loophooks.engine.callbacks._rich_model_summary import RichModelSummary
from loophooks.engine.callbacks._timer import Timer, parse_duration

__all__ = ["add_option_callbacks"]


def add_option_callbacks(
    callbacks: list[Any],
    *,
    max_time: Union[str, timedelta, dict[str, int], None],
    enable_model_summary: object,
) -> list[Any]:
    """``callbacks`` plus a :class:`Timer` for ``max_time`` and a :class:`ModelSummary` when enabled.

    A Timer or ModelSummary the user passed wins over the option, as in Lightning. The summary is a
    :class:`RichModelSummary` where ``rich`` is installed (Lightning's rule, :mod:`loophooks.engine._extras`).
    """
    out = list(callbacks)
    duration = parse_duration(max_time, "Trainer(max_time")
    if duration is not None:
        if any(isinstance(c, Timer) for c in out):
            info(None, "Ignoring Trainer(max_time=...): the callbacks already hold a Timer.")
        else:
            out.append(Timer(duration=duration, interval="step"))
    if not isinstance(enable_model_summary, bool):  # annotations do not stop a caller passing 1 or "yes"
        _refuse_summary_option(enable_model_summary)
    if enable_model_summary and not any(isinstance(c, ModelSummary) for c in out):
        out.append(RichModelSummary() if _extras.rich_available() else ModelSummary())
    return out


def _refuse_summary_option(value: object) -> None:
    from loophooks.engine._errors import ConfigurationError

    raise ConfigurationError(f"Trainer(enable_model_summary=...) must be True or False; received {value!r}")
