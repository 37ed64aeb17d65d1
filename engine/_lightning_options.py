"""Lightning's Trainer options beyond the loop basics: debugging runs, stopping floors, torch switches.

Every option of Lightning 2.6's ``Trainer`` either works here with Lightning's
meaning or, when given a value other than its default, raises a
:class:`ConfigurationError` that names it as not supported (``UNSUPPORTED``). None
is accepted and ignored; ``tests/lightning_port/test_trainer_options.py`` compares
the signatures.

- ``fast_dev_run`` (True, or n batches): every limit n, ``max_steps=n``, one epoch,
  no sanity check, validation every epoch, no checkpoint files;
- ``overfit_batches``: the training and validation limits, and the training loader
  without shuffling (its ``RandomSampler`` replaced by a ``SequentialSampler``);
- ``min_epochs``/``min_steps``: ``should_stop`` waits until both are reached;
- ``detect_anomaly``, ``benchmark``, ``inference_mode``: torch's switches, as Lightning sets them;
- ``barebones``: refuses every feature that costs speed, as Lightning does.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Optional, Union

import torch

from loophooks.engine._errors import ConfigurationError

if TYPE_CHECKING:
    from loophooks.engine._trainer import Trainer

__all__ = [
    "UNSUPPORTED",
    "DebugFlags",
    "LightningOptions",
    "can_stop_early",
    "grad_context",
    "refuse_unsupported",
    "resolve_lightning_options",
    "sequential_loader",
]

Number = Union[int, float]

# Lightning options the engine does not implement: name -> (Lightning's default, why).
UNSUPPORTED: dict[str, tuple[Any, str]] = {
    "plugins": (None, "Lightning plugins (precision, environment, checkpoint IO) have no counterpart here"),
    "sync_batchnorm": (
        False,
        "SyncBatchNorm conversion is not implemented; convert with "
        "torch.nn.SyncBatchNorm.convert_sync_batchnorm before fit",
    ),
    "model_registry": (None, "Lightning's model registry (a cloud service) has no counterpart here"),
}
# Options whose only effect is on features the engine leaves to Lightning's cloud/loggers: accepted at Lightning's
# default, refused otherwise (enable_autolog_hparams=True only matters once a logger exists).
NEUTRAL_DEFAULTS: dict[str, Any] = {"enable_autolog_hparams": True}


def refuse_unsupported(options: dict[str, Any]) -> None:
    """Raise for each option given a value other than Lightning's default."""
    for name, value in options.items():
        if name in UNSUPPORTED:
            default, why = UNSUPPORTED[name]
            if value is not default and value != default:
                raise ConfigurationError(f"Trainer({name}={value!r}) is not supported: {why}")
        elif name in NEUTRAL_DEFAULTS and value != NEUTRAL_DEFAULTS[name]:
            raise ConfigurationError(
                f"Trainer({name}={value!r}) is not supported: only Lightning's default ({NEUTRAL_DEFAULTS[name]!r})"
            )


class DebugFlags:
    """``fast_dev_run`` and ``overfit_batches`` resolved into the limits they imply (Lightning's rules)."""

    def __init__(self, fast_dev_run: Union[int, bool], overfit_batches: Number) -> None:
        if isinstance(fast_dev_run, bool):
            runs = int(fast_dev_run)
        elif isinstance(fast_dev_run, int) and fast_dev_run >= 0:
            runs = fast_dev_run
        else:
            raise ConfigurationError(
                f"Trainer(fast_dev_run=...) must be a bool or an int >= 0; received {fast_dev_run!r}"
            )
        if (
            isinstance(overfit_batches, bool)
            or not isinstance(overfit_batches, (int, float))
            or not overfit_batches >= 0  # NaN too
            or overfit_batches == float("inf")
        ):
            raise ConfigurationError(
                f"Trainer(overfit_batches=...) must be an int >= 0 or a float in [0, 1]; received {overfit_batches!r}"
            )
        if isinstance(overfit_batches, float) and overfit_batches > 1.0:
            raise ConfigurationError(
                f"Trainer(overfit_batches=...) as a float must be in [0, 1]; received {overfit_batches!r}"
            )
        self.batches = runs  # 0: off
        self.fast_dev_run: Union[int, bool] = True if runs == 1 else fast_dev_run
        self.overfit_batches: Number = overfit_batches

    def apply(self, trainer: Trainer) -> None:
        n = self.batches
        overfit = self.overfit_batches > 0
        if n:
            if not overfit:
                trainer.limit_train_batches = n
                trainer.limit_val_batches = n
            trainer.limit_test_batches = n
            trainer.limit_predict_batches = n
            trainer.max_steps = n
            trainer.num_sanity_val_steps = 0
            trainer.max_epochs = 1
            trainer.val_check_interval = 1.0
            trainer.check_val_every_n_epoch = 1
        if overfit:
            trainer.limit_train_batches = self.overfit_batches
            trainer.limit_val_batches = self.overfit_batches


def check_int(name: str, value: Any, low: int, *, none_ok: bool = False) -> None:
    """Refuse an option that is not an int >= ``low`` (bools are not ints here)."""
    if value is None and none_ok:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        expected = f"{'None or ' if none_ok else ''}an int >= {low}"
        raise ConfigurationError(f"Trainer({name}=...) must be {expected}; received {value!r}")


def check_flags(**flags: Any) -> None:
    """Lightning's on/off options must be True or False (``benchmark`` may be None: leave cuDNN as it is)."""
    for name, value in flags.items():
        if isinstance(value, bool) or (value is None and name == "benchmark"):
            continue
        expected = "True, False or None" if name == "benchmark" else "True or False"
        raise ConfigurationError(f"Trainer({name}=...) must be {expected}; received {type(value).__name__} {value!r}")


def check_barebones(
    *,
    enable_checkpointing: Optional[bool],
    logger: Any,
    enable_progress_bar: Optional[bool],
    enable_model_summary: Optional[bool],
    num_sanity_val_steps: Optional[int],
    fast_dev_run: Any,
    detect_anomaly: bool,
    profiler: Any,
) -> None:
    """``barebones=True`` refuses, as Lightning does, every feature that may cost speed when asked for explicitly."""
    for name, value, off in (
        ("enable_checkpointing", enable_checkpointing, not enable_checkpointing),
        ("logger", logger, logger is None or logger is False),
        ("enable_progress_bar", enable_progress_bar, not enable_progress_bar),
        ("enable_model_summary", enable_model_summary, not enable_model_summary),
        ("num_sanity_val_steps", num_sanity_val_steps, num_sanity_val_steps in (None, 0)),
        ("fast_dev_run", fast_dev_run, fast_dev_run is False or fast_dev_run == 0),
        ("detect_anomaly", detect_anomaly, not detect_anomaly),
        ("profiler", profiler, profiler is None),
    ):
        if not off:
            raise ConfigurationError(
                f"Trainer(barebones=True, {name}={value!r}): barebones mode turns off every feature that may cost "
                f"speed, {name} included"
            )


class LightningOptions:
    """The options above, checked and resolved (the Trainer sets them; ``debug.apply`` overrides its limits)."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        self.debug = DebugFlags(options["fast_dev_run"], options["overfit_batches"])
        barebones = options["barebones"]
        # barebones turns off (by default) what it refuses when asked for explicitly; None means "not asked"
        self.enable_checkpointing: bool = _default(options["enable_checkpointing"], not barebones)
        self.enable_progress_bar: bool = _default(options["enable_progress_bar"], not barebones)
        self.enable_model_summary: bool = _default(options["enable_model_summary"], not barebones)
        self.num_sanity_val_steps: Optional[int] = 0 if barebones else options["num_sanity_val_steps"]
        if self.debug.batches:  # fast_dev_run: no checkpoint files (Lightning suppresses them)
            self.enable_checkpointing = False


def _default(value: Optional[bool], default: bool) -> bool:
    return default if value is None else value


def resolve_lightning_options(options: dict[str, Any]) -> LightningOptions:
    """Check the Trainer's Lightning-only options (``options``: its arguments by name) before anything happens.

    Raises :class:`ConfigurationError` for an unsupported or ill-typed option, and for what ``barebones=True``
    refuses; returns them resolved (the ``enable_*`` defaults barebones and fast_dev_run change).
    """
    o = options
    refuse_unsupported({name: o[name] for name in (*UNSUPPORTED, *NEUTRAL_DEFAULTS)})
    check_int("reload_dataloaders_every_n_epochs", o["reload_dataloaders_every_n_epochs"], 0)
    check_int("min_epochs", o["min_epochs"], 0, none_ok=True)
    check_int("min_steps", o["min_steps"], 0, none_ok=True)
    check_flags(
        inference_mode=o["inference_mode"],
        detect_anomaly=o["detect_anomaly"],
        barebones=o["barebones"],
        benchmark=o["benchmark"],
    )
    resolved = LightningOptions(o)  # DebugFlags checks fast_dev_run and overfit_batches here, as before barebones
    if o["barebones"]:
        check_barebones(
            **{
                name: o[name]
                for name in (
                    "enable_checkpointing",
                    "logger",
                    "enable_progress_bar",
                    "enable_model_summary",
                    "num_sanity_val_steps",
                    "fast_dev_run",
                    "detect_anomaly",
                    "profiler",
                )
            }
        )
    return resolved


def can_stop_early(trainer: Trainer) -> bool:
    """Whether ``should_stop`` may end the fit: ``min_epochs`` and ``min_steps`` are reached (Lightning's rule)."""
    min_epochs = trainer.min_epochs
    min_steps = trainer.min_steps
    state = trainer.state
    if min_epochs and state.epoch < min_epochs:
        return False
    return not (min_steps and state.global_step < min_steps)


def grad_context(trainer: Trainer) -> Any:
    """What evaluation outside fit runs under: ``torch.inference_mode`` or, with ``inference_mode=False``, no_grad."""
    return torch.inference_mode() if trainer.inference_mode else torch.no_grad()


def anomaly_context(trainer: Trainer) -> Any:
    """``torch.autograd.detect_anomaly`` for the run when ``detect_anomaly=True``; nothing otherwise."""
    if trainer.detect_anomaly:
        return torch.autograd.set_detect_anomaly(True)
    return contextlib.nullcontext()


def set_benchmark(benchmark: Optional[bool], deterministic: Any) -> Optional[bool]:
    """Set ``torch.backends.cudnn.benchmark`` as Lightning does; returns the value (None: left as it was)."""
    if benchmark and deterministic:
        import warnings

        warnings.warn(
            "Trainer(benchmark=True, deterministic=True): benchmark=True picks algorithms by speed, which can "
            "undo deterministic=True",
            UserWarning,
            stacklevel=3,
        )
    if benchmark is None:
        benchmark = False if deterministic else None  # Lightning turns it off for deterministic runs
    if benchmark is not None:
        torch.backends.cudnn.benchmark = benchmark
    return benchmark


def sequential_loader(loader: Any, option: str) -> Any:
    """``loader`` without shuffling: a DataLoader with a ``RandomSampler`` rebuilt with a ``SequentialSampler``."""
    from torch.utils.data import DataLoader, RandomSampler, SequentialSampler

    if not isinstance(loader, DataLoader) or not isinstance(loader.sampler, RandomSampler):
        return loader
    import warnings

    warnings.warn(
        f"Trainer({option}=...) replaces the training loader's RandomSampler with a SequentialSampler "
        "(the same batches every epoch)",
        UserWarning,
        stacklevel=3,
    )
    return DataLoader(
        loader.dataset,
        batch_size=loader.batch_size,
        sampler=SequentialSampler(loader.dataset),  # type: ignore[arg-type]
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        drop_last=loader.drop_last,
        timeout=loader.timeout,
        worker_init_fn=loader.worker_init_fn,
        multiprocessing_context=loader.multiprocessing_context,
        generator=loader.generator,
        prefetch_factor=loader.prefetch_factor,
        persistent_workers=loader.persistent_workers,
        pin_memory_device=loader.pin_memory_device,
    )
