"""The Trainer's options, checked before anything else happens.

Every option is checked for its type, and every number for NaN, infinities and
its range, when the ``Trainer`` is built: a bad value fails there with a
:class:`ConfigurationError` naming the option, what it accepts and what came,
instead of passing the constructor and failing later in arithmetic (a NaN limit
compares false with everything, so range checks alone let it through).

The rules follow what Lightning 2.6 accepts; where Lightning accepts a value
and then misbehaves (a NaN limit, a float ``max_epochs``) the engine refuses it.

The options keep Lightning's meanings: ``max_epochs`` (default 1000, or unbounded when only
``max_steps`` or ``max_time`` is given), ``max_steps``, ``limit_*_batches`` (an int caps the
batches, a float is a fraction), ``num_sanity_val_steps`` (-1: all), ``check_val_every_n_epoch``,
``val_check_interval``, ``accumulate_grad_batches``, ``gradient_clip_val``/``gradient_clip_algorithm``,
``precision`` (``"32-true"``, ``"bf16-mixed"``, ``"16-mixed"``), ``accelerator`` (``"cpu"``,
``"cuda"``, ``"auto"``), ``devices``, ``strategy``, ``callbacks``, ``enable_progress_bar``,
``enable_checkpointing`` (a :class:`ModelCheckpoint` saving to ``default_root_dir/checkpoints``),
``enable_model_summary``, ``max_time``, ``default_root_dir``, ``deterministic``.

Here too: the device a single-device run uses, whether hook checks are on, and
the callback list the options build (progress bar, checkpointing, Lightning's order).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Optional, Union

import torch

from loophooks.engine import _extras
from loophooks.engine._callbacks import ModelCheckpoint, ProgressBar, TQDMProgressBar
from loophooks.engine._ddp import resolve_strategy
from loophooks.engine._dispatch import is_overridden
from loophooks.engine._errors import ConfigurationError
from loophooks.engine._precision import Precision
from loophooks.engine._strategy import Strategy
from loophooks.engine.callbacks import Checkpoint
from loophooks.engine.callbacks._defaults import add_option_callbacks

__all__ = [
    "Number",
    "check_loop_options",
    "check_options",
    "checks_from_env",
    "choose_device",
    "choose_strategy",
    "limit_option",
    "reorder_callbacks",
    "trainer_callbacks",
]

Number = Union[int, float]


def _shown(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # a repr that raises must not replace the error being reported
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 120 else text[:117] + "..."


def _fail(name: str, expected: str, value: Any) -> ConfigurationError:
    return ConfigurationError(
        f"Trainer({name}=...) must be {expected}; received {type(value).__name__} {_shown(value)}"
    )


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
    check_loop_options(
        max_steps=o["max_steps"],
        max_epochs=o["max_epochs"],
        num_sanity_val_steps=o["num_sanity_val_steps"],
        check_val_every_n_epoch=o["check_val_every_n_epoch"],
        accumulate_grad_batches=o["accumulate_grad_batches"],
        gradient_clip_val=o["gradient_clip_val"],
        gradient_clip_algorithm=o["gradient_clip_algorithm"],
        val_check_interval=o["val_check_interval"],
        log_every_n_steps=o["log_every_n_steps"],
    )


def checks_from_env() -> bool:
    """The spec's switch (``loophooks.spec.set_checks``), or ``LOOPHOOKS_CHECKS`` as it is now."""
    from loophooks.spec._checks import checks_enabled, checks_from_env as env_now

    return checks_enabled() or env_now()  # one parser of the variable, the spec's


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
    log_every_n_steps: Any,
) -> None:
    """The options that shape the loops: their types and ranges."""
    _int_option("max_steps", max_steps, -1)
    _int_option("max_epochs", max_epochs, -1, none_ok=True)
    _int_option("num_sanity_val_steps", num_sanity_val_steps, -1, none_ok=True)
    _int_option("check_val_every_n_epoch", check_val_every_n_epoch, 1, none_ok=True)
    _int_option("accumulate_grad_batches", accumulate_grad_batches, 1)
    _int_option("log_every_n_steps", 50 if log_every_n_steps is None else log_every_n_steps, 0)
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


def choose_strategy(
    strategy: Any, accelerator: str, devices: Any, num_nodes: int, precision: Union[str, int]
) -> tuple[Precision, Strategy]:
    """The precision and the strategy ``Trainer(strategy=..., accelerator=..., devices=...)`` asks for."""
    ddp = resolve_strategy(strategy, accelerator=accelerator, devices=devices, num_nodes=num_nodes, precision=precision)
    if ddp is not None:  # engine/_ddp.py: the strategy chose this process's device and precision
        return ddp.precision, ddp
    if strategy not in ("auto", None, "single_device") and not isinstance(strategy, Strategy):
        raise ConfigurationError(
            f"Trainer(strategy={strategy!r}) is not supported: the engine runs 'auto', 'single_device', 'ddp' "
            "or a loophooks Strategy instance"
        )
    device = choose_device(accelerator, devices)
    chosen = Precision(precision, device)
    return chosen, strategy if isinstance(strategy, Strategy) else Strategy(device, chosen)


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
            if len(devices) > 1:  # several GPUs named: training on the first alone would ignore the others
                raise _several_devices(devices)
            index = int(devices[0])
        elif devices in (-1, "-1") and torch.cuda.device_count() == 1:
            pass  # "all devices" is the one there is
        elif devices not in (None, "auto", 1, "1"):
            raise _several_devices(devices)
        return torch.device("cuda", index)
    if isinstance(devices, (list, tuple)):
        raise ConfigurationError(
            f"Trainer(accelerator='cpu', devices={devices!r}): on the CPU, devices is a number of processes "
            "(1, or several with strategy='ddp'), not a list of device indices (Lightning refuses it too)"
        )
    if devices not in (None, "auto", 1, "1"):
        raise _several_devices(devices)
    return torch.device("cpu")


def _several_devices(devices: Any) -> ConfigurationError:
    return ConfigurationError(
        f"Trainer(devices={devices!r}) asks for several devices, but without strategy='ddp' the engine runs one "
        "process on one device: pass strategy='ddp' to train data-parallel, or devices=1"
    )


def trainer_callbacks(
    callbacks: Any,
    *,
    enable_progress_bar: bool,
    enable_checkpointing: bool,
    enable_model_summary: bool = False,
    max_time: Any = None,
) -> list[Any]:
    """``Trainer(callbacks=...)`` plus what the flags add (progress bar, checkpointing, timer, model summary)."""
    user = list(callbacks) if isinstance(callbacks, Sequence) else ([callbacks] if callbacks else [])
    bars = [c for c in user if isinstance(c, ProgressBar)]
    if len(bars) > 1:
        raise ConfigurationError(f"Trainer(callbacks=...) holds {len(bars)} progress bars; give at most one")
    if bars and not enable_progress_bar:
        raise ConfigurationError(
            f"Trainer(enable_progress_bar=False) but callbacks include {type(bars[0]).__name__}; remove one of them"
        )
    if enable_progress_bar and not bars:  # Lightning's default bar: rich's where rich is installed
        from loophooks.engine._rich_progress import RichProgressBar

        user.append(RichProgressBar() if _extras.rich_available() else TQDMProgressBar())
    # any checkpoint callback (ModelCheckpoint, OnExceptionCheckpoint) stands in for the default, as in Lightning
    if not enable_checkpointing and any(isinstance(c, Checkpoint) for c in user):
        raise ConfigurationError(
            "Trainer(enable_checkpointing=False) but callbacks holds a checkpoint callback "
            f"({next(type(c).__name__ for c in user if isinstance(c, Checkpoint))}): remove it or set "
            "enable_checkpointing=True"
        )
    if enable_checkpointing and not any(isinstance(c, Checkpoint) for c in user):
        user.append(ModelCheckpoint())
    user = add_option_callbacks(user, max_time=max_time, enable_model_summary=enable_model_summary)
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
