"""``RichProgressBarTheme`` and the checks of ``RichProgressBar``'s theme and console options, before any run."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from loophooks.engine._errors import ConfigurationError

__all__ = ["RichProgressBarTheme", "check_console_kwargs", "check_theme"]

_STYLE_FIELDS = (
    "description",
    "progress_bar",
    "progress_bar_finished",
    "progress_bar_pulse",
    "batch_progress",
    "time",
    "processing_speed",
    "metrics",
)


@dataclass
class RichProgressBarTheme:
    """Lightning's theme: a rich style (string or ``rich.style.Style``) per part of a row, and the metrics' format.

    Lightning's own ``RichProgressBarTheme`` objects are accepted as well.
    """

    description: Any = ""
    progress_bar: Any = "#6206E0"
    progress_bar_finished: Any = "#6206E0"
    progress_bar_pulse: Any = "#6206E0"
    batch_progress: Any = ""
    time: Any = "dim"
    processing_speed: Any = "dim underline"
    metrics: Any = "italic"
    metrics_text_delimiter: str = " "
    metrics_format: str = ".3f"


def check_theme(theme: Any) -> None:
    from rich.errors import StyleSyntaxError
    from rich.style import Style

    for name in _STYLE_FIELDS:
        if not hasattr(theme, name):
            raise ConfigurationError(f"RichProgressBar(theme=...) has no {name!r}: give a RichProgressBarTheme")
        value = getattr(theme, name)
        if isinstance(value, Style):
            continue
        if not isinstance(value, str):
            raise ConfigurationError(f"RichProgressBar(theme=...): {name} must be a rich style; received {value!r}")
        try:
            Style.parse(value)
        except StyleSyntaxError as error:
            raise ConfigurationError(
                f"RichProgressBar(theme=...): {name}={value!r} is not a rich style: {error}"
            ) from None
    delimiter = getattr(theme, "metrics_text_delimiter", None)
    if not isinstance(delimiter, str):
        raise ConfigurationError(
            f"RichProgressBar(theme=...): metrics_text_delimiter must be a str; received {delimiter!r}"
        )
    spec = getattr(theme, "metrics_format", None)
    try:
        format(1.0, spec)  # type: ignore[arg-type]  # checked here: a bad spec fails now, not at the first batch
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"RichProgressBar(theme=...): metrics_format must be a format spec for a float; received {spec!r}"
        ) from None


def check_console_kwargs(console_kwargs: Any) -> dict[str, Any]:
    if console_kwargs is None:
        return {}
    if not isinstance(console_kwargs, dict):
        raise ConfigurationError(f"RichProgressBar(console_kwargs=...) must be a dict; received {console_kwargs!r}")
    from rich.console import Console

    accepted = set(inspect.signature(Console.__init__).parameters) - {"self"}
    unknown = sorted(set(console_kwargs) - accepted)
    if unknown:
        raise ConfigurationError(f"RichProgressBar(console_kwargs=...): {unknown} are not arguments of rich's Console")
    return dict(console_kwargs)
