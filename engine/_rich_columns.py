"""The columns of :class:`~loophooks.engine.RichProgressBar`'s rows, drawn by rich (imported only with rich there).

One row per task (training epoch, validation, test, predict loader):
description, bar, ``done/total`` batches, ``elapsed • remaining``, speed, and, on
the training row only, the metrics text. This is what Lightning's rich bar shows.
A loader without a length has an infinite total: the bar pulses, the count reads
``n/--`` and the remaining time ``-:--:--``.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Optional, Union

from rich.progress import ProgressColumn, Task
from rich.progress_bar import ProgressBar as BarRenderable
from rich.style import Style
from rich.text import Text

__all__ = [
    "BarColumn",
    "CountColumn",
    "DescriptionColumn",
    "METRICS_FIELD",
    "MetricsColumn",
    "SpeedColumn",
    "TimeColumn",
]

StyleType = Union[str, Style]
METRICS_FIELD = "metrics"  # the task field that holds the training row's metrics text


def _clock(seconds: Optional[float]) -> str:
    return "-:--:--" if seconds is None else str(timedelta(seconds=int(seconds)))


class DescriptionColumn(ProgressColumn):
    """The task's description, read as rich markup (a theme's description style arrives as ``[style]text``)."""

    def render(self, task: Task) -> Text:
        return Text.from_markup(f"[progress.description]{task.description}")


class BarColumn(ProgressColumn):
    """A bar 40 cells wide; it pulses until the task starts and while its total is unknown (infinite)."""

    def __init__(self, complete_style: StyleType, finished_style: StyleType, pulse_style: StyleType) -> None:
        self.complete_style = complete_style
        self.finished_style = finished_style
        self.pulse_style = pulse_style
        super().__init__()

    def render(self, task: Task) -> BarRenderable:
        total = task.total if task.total is not None else math.inf
        return BarRenderable(
            total=max(0.0, total),
            completed=max(0.0, task.completed),
            width=40,
            pulse=not task.started or not math.isfinite(total),
            animation_time=task.get_time(),
            style="bar.back",
            complete_style=self.complete_style,
            finished_style=self.finished_style,
            pulse_style=self.pulse_style,
        )


class CountColumn(ProgressColumn):
    """``done/total`` batches; ``--`` for an unknown total."""

    def __init__(self, style: StyleType) -> None:
        self.style = style
        super().__init__()

    def render(self, task: Task) -> Text:
        total = "--" if task.total is None or math.isinf(task.total) else task.total
        return Text(f"{int(task.completed)}/{total}", style=self.style)


class TimeColumn(ProgressColumn):
    """``elapsed • remaining`` (H:MM:SS); redrawn at most twice a second so the digits do not flicker."""

    max_refresh = 0.5

    def __init__(self, style: StyleType) -> None:
        self.style = style
        super().__init__()

    def render(self, task: Task) -> Text:
        elapsed = task.finished_time if task.finished else task.elapsed
        # rich's estimate divides the remaining count by the speed: with no total there is nothing to estimate
        known = task.total is not None and math.isfinite(task.total)
        remaining = task.time_remaining if known else None
        return Text(f"{_clock(elapsed)} • {_clock(remaining)}", style=self.style)


class SpeedColumn(ProgressColumn):
    """Batches per second over rich's recent samples, two decimals."""

    def __init__(self, style: StyleType) -> None:
        self.style = style
        super().__init__()

    def render(self, task: Task) -> Text:
        speed = task.speed
        return Text(f"{speed if speed is not None else 0.0:.2f}it/s", style=self.style)


class MetricsColumn(ProgressColumn):
    """The metrics text the bar stored on the training task; empty on every other row."""

    def __init__(self, style: StyleType) -> None:
        self.style = style
        super().__init__()

    def render(self, task: Task) -> Text:
        return Text(str(task.fields.get(METRICS_FIELD, "")), justify="left", style=self.style)
