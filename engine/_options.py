"""The Trainer's options: validating them, the device they name, and the callback list they build.

Every check runs in ``Trainer(...)``, before any work, and names the option,
what it accepts and what it received.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional, Union

import torch

from loophooks.engine._callbacks import ModelCheckpoint, ProgressBar
from loophooks.engine._dispatch import is_overridden
from loophooks.engine._errors import ConfigurationError

__all__ = [
    "Number",
    "check_loop_options",
    "checks_from_env",
    "choose_device",
    "limit_option",
    "reorder_callbacks",
    "trainer_callbacks",
]

Number = Union[int, float]


def checks_from_env() -> bool:
    """The spec's switch (``loophooks.spec.set_checks``), or ``LOOPHOOKS_CHECKS`` as it is now."""
    from loophooks.spec import checks_enabled

    return checks_enabled() or os.environ.get("LOOPHOOKS_CHECKS", "").strip().lower() in ("1", "true", "yes", "on")


def limit_option(value: Optional[Number], name: str) -> Number:
    """A ``limit_*_batches`` option: None is all batches (1.0), an int caps them, a float is a fraction."""
    if value is None:
        return 1.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigurationError(f"Trainer({name}=...) must be a non-negative int or float; received {value!r}")
    if isinstance(value, float) and value > 1.0:
        raise ConfigurationError(f"Trainer({name}=...) as a float must be in [0, 1]; received {value!r}")
    return value


def _int_option(name: str, value: Any, low: int, *, none_ok: bool = False) -> None:
    """Reject a Trainer option that is not an int >= ``low`` (bools are not ints here)."""
    if value is None and none_ok:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        expected = f"{'None or ' if none_ok else ''}an int >= {low}" + (" (-1: no limit)" if low == -1 else "")
        raise ConfigurationError(f"Trainer({name}=...) must be {expected}; received {value!r}")


def _number_option(name: str, value: Any, expected: str, ok: Callable[[Number], bool]) -> None:
    """Reject a Trainer option that is neither None nor a number that ``ok`` accepts."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(value):
        raise ConfigurationError(f"Trainer({name}=...) must be {expected}; received {value!r}")


def check_loop_options(
    *,
    max_steps: Any,
    max_epochs: Any,
    num_sanity_val_steps: Any,
    check_val_every_n_epoch: Any,
    accumulate_grad_batches: Any,
    gradient_clip_val: Any,
    gradient_clip_algorithm: Any,
    val_check_interval: Any,
) -> None:
    """The options that shape the loops: their types and ranges."""
    _int_option("max_steps", max_steps, -1)
    _int_option("max_epochs", max_epochs, -1, none_ok=True)
    _int_option("num_sanity_val_steps", num_sanity_val_steps, -1, none_ok=True)
    _int_option("check_val_every_n_epoch", check_val_every_n_epoch, 1, none_ok=True)
    _int_option("accumulate_grad_batches", accumulate_grad_batches, 1)
    _number_option("gradient_clip_val", gradient_clip_val, "None or a number >= 0", lambda v: v >= 0)
    _number_option(
        "val_check_interval",
        val_check_interval,
        "None, an int >= 1 or a float in (0, 1]",
        lambda v: v >= 1 if isinstance(v, int) else 0.0 < v <= 1.0,
    )
    if gradient_clip_algorithm is not None and gradient_clip_algorithm not in ("norm", "value"):
        raise ConfigurationError(
            f"gradient_clip_algorithm must be 'norm' or 'value'; received {gradient_clip_algorithm!r}"
        )


def choose_device(accelerator: str, devices: Any) -> torch.device:
    """The one device of a single-device run, from ``accelerator`` and ``devices``."""
    if accelerator not in ("cpu", "cuda", "gpu", "auto"):
        raise ConfigurationError(f"Trainer(accelerator=...) must be 'cpu', 'cuda' or 'auto'; received {accelerator!r}")
    if accelerator == "auto":
        accelerator = "cuda" if torch.cuda.is_available() else "cpu"
    if accelerator in ("cuda", "gpu"):
        if not torch.cuda.is_available():
            raise ConfigurationError("Trainer(accelerator='cuda') but no CUDA device is available")
        index = 0
        if isinstance(devices, (list, tuple)) and devices:
            index = int(devices[0])
        elif devices not in (None, "auto", 1, "1"):
            raise ConfigurationError(f"Trainer(devices={devices!r}): this engine runs on one device")
        return torch.device("cuda", index)
    if devices not in (None, "auto", 1, "1"):
        raise ConfigurationError(f"Trainer(devices={devices!r}): this engine runs on one device")
    return torch.device("cpu")


def trainer_callbacks(callbacks: Any, *, enable_progress_bar: bool, enable_checkpointing: bool) -> list[Any]:
    """``Trainer(callbacks=...)`` plus the progress bar and checkpointing the flags add, in Lightning's order."""
    user = list(callbacks) if isinstance(callbacks, (list, tuple)) else ([callbacks] if callbacks else [])
    if enable_progress_bar and ProgressBar.wanted() and not any(isinstance(c, ProgressBar) for c in user):
        user.append(ProgressBar())
    if enable_checkpointing and not any(isinstance(c, ModelCheckpoint) for c in user):
        user.append(ModelCheckpoint())
    _check_state_keys(user)
    return reorder_callbacks(user)


def _check_state_keys(callbacks: list[Any]) -> None:
    """Callbacks with state need distinct ``state_key``s, or their checkpoint entries would collide (as Lightning)."""
    seen: set[str] = set()
    for cb in callbacks:
        if not is_overridden(cb, "state_dict"):
            continue
        key = getattr(cb, "state_key", type(cb).__qualname__)
        if key in seen:
            raise ConfigurationError(
                f"two callbacks with state share the state_key {key!r}; give each a distinct state_key"
            )
        seen.add(key)


def reorder_callbacks(callbacks: list[Any]) -> list[Any]:
    """Checkpoint callbacks last, others in their order (Lightning's rule)."""
    return [c for c in callbacks if not isinstance(c, ModelCheckpoint)] + [
        c for c in callbacks if isinstance(c, ModelCheckpoint)
    ]
