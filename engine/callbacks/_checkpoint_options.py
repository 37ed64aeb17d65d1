"""``ModelCheckpoint``'s options checked before anything runs: types, ranges, and the one-trigger rule."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Optional

from loophooks.engine._errors import ConfigurationError

__all__ = ["check_checkpoint_options"]


def _count(owner: str, name: str, value: Any, low: int, *, none_ok: bool = True) -> None:
    if value is None and none_ok:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigurationError(
            f"{owner}({name}=...) must be {'None or ' if none_ok else ''}an int >= {low}; received {value!r}"
        )


def _flag(owner: str, name: str, value: Any, *, none_ok: bool = False) -> None:
    if value is None and none_ok:
        return
    if not isinstance(value, bool):
        raise ConfigurationError(
            f"{owner}({name}=...) must be {'None, ' if none_ok else ''}True or False; received {value!r}"
        )


def check_checkpoint_options(
    *,
    monitor: Any,
    filename: Any,
    mode: Any,
    save_last: Any,
    save_top_k: Any,
    every_n_train_steps: Any,
    every_n_epochs: Any,
    train_time_interval: Any,
    verbose: Any,
    save_on_exception: Any,
    save_weights_only: Any,
    auto_insert_metric_name: Any,
    enable_version_counter: Any,
    save_on_train_epoch_end: Any,
) -> tuple[Optional[int], Optional[int]]:
    """Raise :class:`ConfigurationError` naming the option for a bad value; returns ``(every_n_epochs,
    every_n_train_steps)``, which become ``(1, 0)`` when no save trigger is given (Lightning's default)."""
    owner = "ModelCheckpoint"
    if monitor is not None and not isinstance(monitor, str):
        raise ConfigurationError(f"{owner}(monitor=...) must be None or a metric name; received {monitor!r}")
    if filename is not None and not isinstance(filename, str):
        raise ConfigurationError(f"{owner}(filename=...) must be None or a str; received {filename!r}")
    if mode not in ("min", "max"):
        raise ConfigurationError(f"{owner}(mode=...) must be 'min' or 'max'; received {mode!r}")
    if (
        save_last not in (None, True, False, "link")
        or isinstance(save_last, (int, float))
        and not isinstance(save_last, bool)
    ):
        raise ConfigurationError(f"{owner}(save_last=...) must be None, True, False or 'link'; received {save_last!r}")
    _count(owner, "save_top_k", save_top_k, -1, none_ok=False)
    _count(owner, "every_n_train_steps", every_n_train_steps, 0)
    _count(owner, "every_n_epochs", every_n_epochs, 0)
    for name, value in (
        ("verbose", verbose),
        ("save_on_exception", save_on_exception),
        ("save_weights_only", save_weights_only),
        ("auto_insert_metric_name", auto_insert_metric_name),
        ("enable_version_counter", enable_version_counter),
    ):
        _flag(owner, name, value)
    _flag(owner, "save_on_train_epoch_end", save_on_train_epoch_end, none_ok=True)
    if train_time_interval is not None and (
        not isinstance(train_time_interval, timedelta) or train_time_interval.total_seconds() <= 0
    ):
        raise ConfigurationError(
            f"{owner}(train_time_interval=...) must be None or a positive datetime.timedelta; "
            f"received {train_time_interval!r}"
        )
    if every_n_train_steps is None and every_n_epochs is None and train_time_interval is None:
        every_n_epochs, every_n_train_steps = 1, 0
    triggers = (every_n_train_steps or 0) >= 1, (every_n_epochs or 0) >= 1, train_time_interval is not None
    if sum(triggers) > 1:
        raise ConfigurationError(
            f"{owner}: every_n_train_steps={every_n_train_steps}, every_n_epochs={every_n_epochs} and "
            f"train_time_interval={train_time_interval} are mutually exclusive; set one"
        )
    if monitor is None and save_top_k not in (-1, 0, 1):
        raise ConfigurationError(
            f"{owner}(save_top_k={save_top_k}, monitor=None): keeping the best {save_top_k} needs a monitor "
            "to rank them; set monitor=... or save_top_k to -1 (all), 0 (none) or 1 (the latest)"
        )
    return every_n_epochs, every_n_train_steps
