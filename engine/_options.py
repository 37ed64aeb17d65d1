"""The Trainer's options, checked before anything else happens.

Every option is checked for its type, and every number for NaN, infinities and
its range, when the ``Trainer`` is built: a bad value fails there with a
:class:`ConfigurationError` naming the option, what it accepts and what came,
instead of passing the constructor and failing later in arithmetic (a NaN limit
compares false with everything, so range checks alone let it through).

The rules follow what Lightning 2.6 accepts; where Lightning accepts a value
and then misbehaves (a NaN limit, a float ``max_epochs``) the engine refuses it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

from loophooks.engine._errors import ConfigurationError

__all__ = ["check_options"]


def _shown(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # a repr that raises must not replace the error being reported
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 120 else text[:117] + "..."


def _fail(name: str, expected: str, value: Any) -> ConfigurationError:
    return ConfigurationError(f"Trainer({name}=...) must be {expected}; received {type(value).__name__} {_shown(value)}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(name: str, value: Any, expected: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise _fail(name, expected, value)


def _flag(name: str, value: Any, *, none_ok: bool = False, extra: tuple[str, ...] = ()) -> None:
    if value is None and none_ok:
        return
    if isinstance(value, bool) or (isinstance(value, str) and value in extra):
        return
    choices = " or ".join(["True", "False", *(repr(e) for e in extra), *(["None"] if none_ok else [])])
    raise _fail(name, choices, value)


def _limit(name: str, value: Any) -> None:
    expected = "None, an int >= 0 (batches) or a finite float in [0, 1] (a fraction); non-negative"
    if value is None:
        return
    if not _is_number(value):
        raise _fail(name, expected, value)
    _finite(name, value, expected)


def _devices(value: Any) -> None:
    expected = "'auto', a positive int, -1 (all), a string of them, or a list of device indices"
    if value in (None, "auto", -1, "-1") and not isinstance(value, bool):
        return
    if isinstance(value, bool):
        raise _fail("devices", expected, value)
    if isinstance(value, int):
        if value < 1:
            raise _fail("devices", expected, value)
        return
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if parts and all(p.isdigit() for p in parts):
            return
        raise _fail("devices", expected, value)
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in value):
            if len(set(value)) == len(value):
                return
        raise _fail("devices", expected + " (distinct, non-negative)", value)
    raise _fail("devices", expected, value)


def _callbacks(value: Any) -> None:
    if value is None:
        return
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    for item in items:
        if isinstance(item, type):
            raise ConfigurationError(
                f"Trainer(callbacks=...) holds the class {item.__name__}, not an instance: "
                f"pass {item.__name__}() (instantiated)"
            )
        if item is None or isinstance(item, (str, bytes, int, float, Mapping)):
            raise _fail("callbacks", "a callback instance or a list of them", item)


def check_options(options: Mapping[str, Any]) -> None:
    """Check every option the Trainer was given (see the module docstring); raise on the first bad one."""
    o = options
    for name in ("accelerator",):
        if not isinstance(o[name], str):
            raise _fail(name, "a string ('cpu', 'cuda', 'gpu' or 'auto')", o[name])
    if not isinstance(o["precision"], (str, int)) or isinstance(o["precision"], bool):
        raise _fail("precision", "a string such as '32-true', 'bf16-mixed' or '16-mixed', or 16/32", o["precision"])
    _devices(o["devices"])
    nodes = o["num_nodes"]
    if not isinstance(nodes, int) or isinstance(nodes, bool) or nodes < 1:
        raise _fail("num_nodes", "a positive int", nodes)
    for name in ("max_epochs", "max_steps", "num_sanity_val_steps", "check_val_every_n_epoch"):
        value = o[name]
        if value is not None and not (isinstance(value, int) and not isinstance(value, bool)):
            low = "1" if name == "check_val_every_n_epoch" else "-1"
            raise _fail(name, f"{'None or ' if name != 'max_steps' else ''}an int >= {low}", value)
    if isinstance(o["accumulate_grad_batches"], bool) or not isinstance(o["accumulate_grad_batches"], int):
        raise _fail("accumulate_grad_batches", "an int >= 1", o["accumulate_grad_batches"])
    for name in ("limit_train_batches", "limit_val_batches", "limit_test_batches", "limit_predict_batches"):
        _limit(name, o[name])
    for name, expected in (
        ("val_check_interval", "None, an int >= 1 or a float in (0, 1]"),
        ("gradient_clip_val", "None or a finite number >= 0"),
    ):
        value = o[name]
        if value is not None and not _is_number(value):
            raise _fail(name, expected, value)
        _finite(name, value, expected)
    algorithm = o["gradient_clip_algorithm"]
    if algorithm is not None and not isinstance(algorithm, str):
        raise _fail("gradient_clip_algorithm", "None, 'norm' or 'value'", algorithm)
    for name in ("enable_progress_bar", "enable_checkpointing", "enable_model_summary"):
        _flag(name, o[name], none_ok=True)  # None: Lightning's default (on, unless barebones)
    for name in (
        "use_distributed_sampler",
        "allow_zero_length_dataloader_with_multiple_devices",
        "terminate_on_nan",
    ):
        _flag(name, o[name])
    _flag("check_hooks", o["check_hooks"], none_ok=True)
    _flag("deterministic", o["deterministic"], none_ok=True, extra=("warn",))
    root = o["default_root_dir"]
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise _fail("default_root_dir", "None, a str or a path", root)
    _callbacks(o["callbacks"])
