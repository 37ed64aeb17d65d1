"""The Trainer: Lightning's options and entry points, over the engine's loops.

Every entry point runs the same frame (``_run``), as Lightning does:

    configure_callbacks                       # model
    prepare_data                              # datamodule, then model; only when overridden
    setup(stage)                              # datamodule, callbacks, model
    configure_sharded_model, configure_model  # only when overridden
    [ckpt_path] on_load_checkpoint            # model, then callbacks; then callbacks' load_state_dict
    model to device; configure_optimizers     # fit only
    on_fit_start                              # fit only
    [ckpt_path] optimizer, scheduler, scaler and loop state restored   # fit only
    the stage's loop                          # FitLoop / EvalLoop / PredictLoop
    on_fit_end                                # fit only
    teardown(stage)                           # datamodule, callbacks, model

On an exception: callbacks' ``on_exception``, then the datamodule's, then the
exception propagates unchanged (with a note naming the hook and position).
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Sequence
from typing import Any, Literal, NoReturn, Optional, Union

import torch
from torch import nn

from loophooks.engine._callbacks import Callback, EarlyStopping, ModelCheckpoint, ProgressBar, TQDMProgressBar
from loophooks.engine._combined import CombinedLoader
from loophooks.engine._checkpoint import VERSION_KEY, load_checkpoint, save_checkpoint_file
from loophooks.engine._ddp import resolve_strategy
from loophooks.engine._dispatch import Dispatcher, is_overridden
from loophooks.engine._errors import CheckpointError, ConfigurationError, HookValueError
from loophooks.engine._eval_loop import EvalLoop
from loophooks.engine._faults import run_exception_handlers
from loophooks.engine._fit_loop import FitLoop, ResumePoint
from loophooks.engine._lightning_ckpt import lightning_entries, read_lightning_loops
from loophooks.engine._log_publish import MetricsPublisher, print_results
from loophooks.engine._loggers import configure_loggers, run_log_dir
from loophooks.engine._module import LoopDataModule, LoopModule
from loophooks.engine._lightning_options import (
    DebugFlags,
    anomaly_context,
    check_barebones,
    check_flags,
    refuse_unsupported,
    set_benchmark,
)
from loophooks.engine._options import check_options
from loophooks.engine._optimization import LRSchedulerConfig, _NoOptimizer, parse_optimizers
from loophooks.engine._precision import Precision
from loophooks.engine._seed import install_worker_seeding
from loophooks.engine._predict_loop import PredictLoop
from loophooks.engine._state import LoopState
from loophooks.engine._strategy import Strategy
from loophooks.engine._trainer_api import TrainerAPI
from loophooks.spec import Stage

__all__ = ["Trainer"]

Number = Union[int, float]
_MIXED_KEY = "MixedPrecision"  # Lightning's key for the scaler's state


def _env_checks() -> bool:
    """The spec's switch (``loophooks.spec.set_checks``), or ``LOOPHOOKS_CHECKS`` as it is now."""
    from loophooks.spec import checks_enabled

    return checks_enabled() or os.environ.get("LOOPHOOKS_CHECKS", "").strip().lower() in ("1", "true", "yes", "on")


def _limit(value: Optional[Number], name: str) -> Number:
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


def _number_option(name: str, value: Any, expected: str, ok: Any) -> None:
    """Reject a Trainer option that is neither None nor a number that ``ok`` accepts."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(value):
        raise ConfigurationError(f"Trainer({name}=...) must be {expected}; received {value!r}")


def _device(accelerator: str, devices: Any) -> torch.device:
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
            raise _several_devices(devices)
        return torch.device("cuda", index)
    if devices not in (None, "auto", 1, "1"):
        raise _several_devices(devices)
    return torch.device("cpu")


def _several_devices(devices: Any) -> ConfigurationError:
    return ConfigurationError(
        f"Trainer(devices={devices!r}) asks for several devices, but without strategy='ddp' the engine runs one "
        "process on one device: pass strategy='ddp' to train data-parallel, or devices=1"
    )


class Trainer(TrainerAPI):
    """Runs fit, validate, test and predict with Lightning's hook order and option names.

    Options keep Lightning's names and meanings: ``max_epochs`` (default 1000, or
    unbounded when only ``max_steps`` is given), ``max_steps``, ``limit_*_batches``
    (an int caps the batches, a float is a fraction), ``num_sanity_val_steps``
    (-1: all), ``check_val_every_n_epoch``, ``val_check_interval``,
    ``accumulate_grad_batches``, ``gradient_clip_val``/``gradient_clip_algorithm``,
    ``precision`` (``"32-true"``, ``"bf16-mixed"``, ``"16-mixed"``), ``accelerator``
    (``"cpu"``, ``"cuda"``, ``"auto"``), ``devices``, ``strategy``, ``callbacks``,
    ``enable_progress_bar`` (a tqdm bar, only when stdout is a terminal),
    ``enable_checkpointing`` (adds a :class:`ModelCheckpoint` saving each epoch to
    ``default_root_dir/checkpoints``), ``default_root_dir``, ``deterministic``.

    ``check_hooks`` turns the spec's runtime checks of every hook call on or off;
    by default it follows ``loophooks.spec.set_checks`` / ``LOOPHOOKS_CHECKS=1``.
    The values the loop acts on (``on_train_batch_start``'s return, the batch
    transfer hooks' returns, ``configure_optimizers``, step outputs) are checked
    either way, with a :class:`HookValueError` naming the hook.

    Checkpoints load with ``torch.load(weights_only=True)``; pass
    ``weights_only=False`` to ``fit``/``validate``/``test``/``predict`` only for
    files you trust.
    """

    def __init__(
        self,
        *,
        accelerator: str = "auto",
        devices: Any = "auto",
        strategy: Any = "auto",
        precision: Union[str, int] = "32-true",
        callbacks: Optional[Union[list[Any], Any]] = None,
        max_epochs: Optional[int] = None,
        max_steps: int = -1,
        limit_train_batches: Optional[Number] = None,
        limit_val_batches: Optional[Number] = None,
        limit_test_batches: Optional[Number] = None,
        limit_predict_batches: Optional[Number] = None,
        num_sanity_val_steps: Optional[int] = None,
        check_val_every_n_epoch: Optional[int] = 1,
        val_check_interval: Optional[Number] = None,
        accumulate_grad_batches: int = 1,
        gradient_clip_val: Optional[Number] = None,
        gradient_clip_algorithm: Optional[str] = None,
        enable_progress_bar: Optional[bool] = None,
        enable_checkpointing: Optional[bool] = None,
        enable_model_summary: bool = False,
        default_root_dir: Optional[Union[str, os.PathLike[str]]] = None,
        deterministic: Optional[Union[bool, Literal["warn"]]] = None,
        check_hooks: Optional[bool] = None,
        logger: Any = None,
        log_every_n_steps: Optional[int] = None,
        num_nodes: int = 1,
        use_distributed_sampler: bool = True,
        allow_zero_length_dataloader_with_multiple_devices: bool = False,
        terminate_on_nan: bool = False,
        fast_dev_run: Union[int, bool] = False,
        min_epochs: Optional[int] = None,
        min_steps: Optional[int] = None,
        overfit_batches: Number = 0.0,
        benchmark: Optional[bool] = None,
        inference_mode: bool = True,
        detect_anomaly: bool = False,
        barebones: bool = False,
        profiler: Any = None,
        plugins: Any = None,
        sync_batchnorm: bool = False,
        reload_dataloaders_every_n_epochs: int = 0,
        enable_autolog_hparams: bool = True,
        model_registry: Optional[str] = None,
    ) -> None:
        # Lightning's options beyond the loop basics (engine/_options.py): work as in Lightning, or are refused
        refuse_unsupported({
            "profiler": profiler, "plugins": plugins, "sync_batchnorm": sync_batchnorm,
            "model_registry": model_registry, "enable_autolog_hparams": enable_autolog_hparams,
        })
        _int_option("reload_dataloaders_every_n_epochs", reload_dataloaders_every_n_epochs, 0)
        check_flags(inference_mode=inference_mode, detect_anomaly=detect_anomaly, barebones=barebones, benchmark=benchmark)
        _int_option("min_epochs", min_epochs, 0, none_ok=True)
        _int_option("min_steps", min_steps, 0, none_ok=True)
        debug = DebugFlags(fast_dev_run, overfit_batches)
        if barebones:
            check_barebones(
                enable_checkpointing=enable_checkpointing, logger=logger, enable_progress_bar=enable_progress_bar,
                enable_model_summary=enable_model_summary, num_sanity_val_steps=num_sanity_val_steps,
                fast_dev_run=fast_dev_run, detect_anomaly=detect_anomaly, profiler=profiler,
            )
            num_sanity_val_steps = 0
        enable_checkpointing = not barebones if enable_checkpointing is None else enable_checkpointing
        enable_progress_bar = not barebones if enable_progress_bar is None else enable_progress_bar
        if debug.batches:  # fast_dev_run: no checkpoint files (Lightning suppresses them)
            enable_checkpointing = False
        check_options(locals())  # engine/_options.py: types, NaN/inf and ranges, before anything happens
        _int_option("max_steps", max_steps, -1)
        _int_option("max_epochs", max_epochs, -1, none_ok=True)
        _int_option("num_sanity_val_steps", num_sanity_val_steps, -1, none_ok=True)
        _int_option("check_val_every_n_epoch", check_val_every_n_epoch, 1, none_ok=True)
        _int_option("accumulate_grad_batches", accumulate_grad_batches, 1)
        _number_option("gradient_clip_val", gradient_clip_val, "None or a number >= 0", lambda v: v >= 0)
        _number_option(
            "val_check_interval", val_check_interval, "None, an int >= 1 or a float in (0, 1]",
            lambda v: v >= 1 if isinstance(v, int) else 0.0 < v <= 1.0,
        )
        ddp = resolve_strategy(strategy, accelerator=accelerator, devices=devices, num_nodes=num_nodes, precision=precision)
        if ddp is None and strategy not in ("auto", None, "single_device") and not isinstance(strategy, Strategy):
            raise ConfigurationError(f"Trainer(strategy={strategy!r}): only single-device runs are available")
        if max_steps < -1:
            raise ConfigurationError(f"max_steps must be -1 or a non-negative int; received {max_steps}")
        if max_epochs is not None and max_epochs < -1:
            raise ConfigurationError(f"max_epochs must be -1 or a non-negative int; received {max_epochs}")
        if not isinstance(accumulate_grad_batches, int) or accumulate_grad_batches < 1:
            raise ConfigurationError(f"accumulate_grad_batches must be a positive int; received {accumulate_grad_batches!r}")
        if gradient_clip_algorithm is not None and gradient_clip_algorithm not in ("norm", "value"):
            raise ConfigurationError(f"gradient_clip_algorithm must be 'norm' or 'value'; received {gradient_clip_algorithm!r}")
        if check_val_every_n_epoch is not None and check_val_every_n_epoch < 1:
            raise ConfigurationError(f"check_val_every_n_epoch must be None or >= 1; received {check_val_every_n_epoch}")
        self.max_epochs: int = max_epochs if max_epochs is not None else (1000 if max_steps == -1 else -1)
        self.max_steps = max_steps
        self.limit_train_batches = _limit(limit_train_batches, "limit_train_batches")
        self.limit_val_batches = _limit(limit_val_batches, "limit_val_batches")
        self.limit_test_batches = _limit(limit_test_batches, "limit_test_batches")
        self.limit_predict_batches = _limit(limit_predict_batches, "limit_predict_batches")
        self.num_sanity_val_steps = 2 if num_sanity_val_steps is None else num_sanity_val_steps
        self.check_val_every_n_epoch = check_val_every_n_epoch
        self.val_check_interval: Number = 1.0 if val_check_interval is None else val_check_interval
        if isinstance(self.val_check_interval, float) and not 0.0 < self.val_check_interval <= 1.0:
            raise ConfigurationError(f"val_check_interval as a float must be in (0, 1]; received {val_check_interval}")
        self.accumulate_grad_batches = accumulate_grad_batches
        self.gradient_clip_val = gradient_clip_val
        self.gradient_clip_algorithm = gradient_clip_algorithm
        self.default_root_dir = os.path.normpath(os.path.expanduser(default_root_dir or os.getcwd()))
        self.deterministic = deterministic
        if deterministic:  # "warn" (Lightning's value): warn instead of raising on a nondeterministic op
            torch.use_deterministic_algorithms(True, warn_only=deterministic == "warn")
        # None: follow loophooks.spec.set_checks / LOOPHOOKS_CHECKS as they are when each run starts
        self._check_hooks: Optional[bool] = None if check_hooks is None else bool(check_hooks)
        # Lightning 1.x's option: raise when training_step's loss is NaN or inf, before backward (one sync per step)
        self.terminate_on_nan = bool(terminate_on_nan)
        self.fast_dev_run = debug.fast_dev_run
        self.overfit_batches = debug.overfit_batches
        self.min_epochs = min_epochs
        self.min_steps = min_steps
        self.inference_mode = bool(inference_mode)
        self.detect_anomaly = bool(detect_anomaly)
        self.barebones = bool(barebones)
        self.benchmark = set_benchmark(benchmark, deterministic)
        self.reload_dataloaders_every_n_epochs = reload_dataloaders_every_n_epochs
        debug.apply(self)
        self.num_nodes = num_nodes
        self.use_distributed_sampler = use_distributed_sampler
        self.allow_zero_length_dataloader_with_multiple_devices = allow_zero_length_dataloader_with_multiple_devices
        if ddp is not None:  # engine/_ddp.py: the strategy chose this process's device and precision
            self._precision = ddp.precision
            self._strategy: Strategy = ddp
        else:
            device = _device(accelerator, devices)
            self._precision = Precision(precision, device)
            self._strategy = strategy if isinstance(strategy, Strategy) else Strategy(device, self._precision)
        user = list(callbacks) if isinstance(callbacks, Sequence) else ([callbacks] if callbacks else [])
        bars = [c for c in user if isinstance(c, ProgressBar)]
        if len(bars) > 1:
            raise ConfigurationError(f"Trainer(callbacks=...) holds {len(bars)} progress bars; give at most one")
        if bars and not enable_progress_bar:
            raise ConfigurationError(
                f"Trainer(enable_progress_bar=False) but callbacks include {type(bars[0]).__name__}; remove one of them"
            )
        if enable_progress_bar and not bars:  # Lightning's default bar (plain lines when stdout is not a terminal)
            user.append(TQDMProgressBar())
        if not enable_checkpointing and any(isinstance(c, ModelCheckpoint) for c in user):
            raise ConfigurationError(
                "Trainer(enable_checkpointing=False) but callbacks holds a ModelCheckpoint: remove it or set "
                "enable_checkpointing=True"
            )
        if enable_checkpointing and not any(isinstance(c, ModelCheckpoint) for c in user):
            user.append(ModelCheckpoint())
        _check_state_keys(user)
        self._trainer_callbacks = _reorder(user)
        self.callbacks: list[Any] = list(self._trainer_callbacks)
        self.state = LoopState()
        self._metrics = MetricsPublisher(self)  # self.log's store and the metric dicts (engine/_log_publish.py)
        _int_option("log_every_n_steps", 50 if log_every_n_steps is None else log_every_n_steps, 0)
        self._metrics.log_every_n_steps = 50 if log_every_n_steps is None else log_every_n_steps
        self._metrics.loggers = configure_loggers(logger, self.default_root_dir)
        self._verbose = True
        self.datamodule: Any = None
        self._dispatch: Dispatcher = None  # type: ignore[assignment]
        self._fit_loop = FitLoop(self)
        self._eval_loop: Optional[EvalLoop] = None
        self._predict_loop: Optional[PredictLoop] = None
        self._loaders: dict[str, Any] = {}
        self._takes_idx: dict[str, bool] = {}
        self._identity_transfer = (False, False, False)
        self.ckpt_path: Optional[str] = None

    # --- properties hooks read -------------------------------------------------------------------------
    @property
    def check_hooks(self) -> bool:
        """Whether the next run checks every hook call against the spec.

        ``Trainer(check_hooks=...)`` fixes it; left at None it is read when each run
        starts, so ``set_checks(True)`` after the Trainer was built still applies.
        """
        return _env_checks() if self._check_hooks is None else self._check_hooks

    @check_hooks.setter
    def check_hooks(self, value: Optional[bool]) -> None:
        self._check_hooks = None if value is None else bool(value)

    @property
    def current_epoch(self) -> int:
        return self.state.epoch

    @property
    def global_step(self) -> int:
        return self.state.global_step

    @property
    def training(self) -> bool:
        return self.state.stage == "train"

    @property
    def validating(self) -> bool:
        return self.state.stage == "validate"

    @property
    def testing(self) -> bool:
        return self.state.stage == "test"

    @property
    def predicting(self) -> bool:
        return self.state.stage == "predict"

    @property
    def sanity_checking(self) -> bool:
        return self.state.stage == "sanity_check"

    @property
    def evaluating(self) -> bool:
        return self.state.stage in ("validate", "test")

    @property
    def should_stop(self) -> bool:
        return self.state.should_stop

    @should_stop.setter
    def should_stop(self, value: bool) -> None:
        self.state.should_stop = bool(value)

    @property
    def is_last_batch(self) -> bool:
        return self.state.is_last_batch

    @property
    def lightning_module(self) -> Any:
        return self._strategy.module

    @property
    def model(self) -> Any:
        return self._strategy.model

    @property
    def strategy(self) -> Strategy:
        return self._strategy

    @property
    def precision(self) -> str:
        return self._precision.precision

    @property
    def scaler(self) -> Optional[torch.amp.GradScaler]:
        return self._precision.scaler

    @property
    def optimizers(self) -> list[torch.optim.Optimizer]:
        return self._strategy.optimizers

    @property
    def lr_scheduler_configs(self) -> list[LRSchedulerConfig]:
        return self._strategy.lr_scheduler_configs

    @property
    def callback_metrics(self) -> dict[str, torch.Tensor]:
        return self._metrics.callback_metrics

    @property
    def logged_metrics(self) -> dict[str, torch.Tensor]:
        return self._metrics.logged_metrics

    @property
    def progress_bar_metrics(self) -> dict[str, float]:
        return self._metrics.progress_bar_metrics

    @property
    def log_every_n_steps(self) -> int:
        return self._metrics.log_every_n_steps

    @property
    def loggers(self) -> list[Any]:
        return self._metrics.loggers

    @loggers.setter
    def loggers(self, loggers: Optional[list[Any]]) -> None:
        self._metrics.loggers = list(loggers) if loggers else []

    @property
    def logger(self) -> Any:
        """The first logger, or None."""
        return self._metrics.loggers[0] if self._metrics.loggers else None

    @logger.setter
    def logger(self, logger: Any) -> None:
        self._metrics.loggers = [] if logger is None else [logger]

    @property
    def num_training_batches(self) -> Number:
        return self._fit_loop.max_batches

    @property
    def num_val_batches(self) -> list[Number]:
        loop = self._eval_loop if self.state.fn == "validate" and self._eval_loop is not None else self._fit_loop.val_loop
        return list(loop.max_batches)

    @property
    def num_sanity_val_batches(self) -> list[Number]:
        cap = self.num_sanity_val_steps
        return [b if cap == -1 else min(cap, b) for b in self._fit_loop.val_loop.max_batches]

    @property
    def num_test_batches(self) -> list[Number]:
        return list(self._eval_loop.max_batches) if self._eval_loop is not None and self._eval_loop.kind == "test" else []

    @property
    def val_check_batch(self) -> Number:
        return self._fit_loop.val_check_batch

    @property
    def checkpoint_callback(self) -> Optional[ModelCheckpoint]:
        return next((c for c in self.callbacks if isinstance(c, ModelCheckpoint)), None)

    @property
    def early_stopping_callback(self) -> Optional[EarlyStopping]:
        return next((c for c in self.callbacks if isinstance(c, EarlyStopping)), None)

    @property
    def is_global_zero(self) -> bool:
        return self._strategy.is_global_zero

    @property
    def world_size(self) -> int:
        return self._strategy.world_size

    @property
    def global_rank(self) -> int:
        return self._strategy.global_rank

    @property
    def local_rank(self) -> int:
        return self._strategy.local_rank

    @property
    def node_rank(self) -> int:
        return self._strategy.node_rank

    @property
    def log_dir(self) -> Optional[str]:
        """The first logger's directory (Lightning's rule), or ``default_root_dir`` without loggers."""
        path = run_log_dir(self.loggers, self.default_root_dir)
        broadcast = getattr(self._strategy, "broadcast", None)  # every process names rank 0's directory
        return broadcast(path) if broadcast is not None else path

    @property
    def estimated_stepping_batches(self) -> Number:
        if self._fit_loop.loader is None:
            self._fit_loop.setup_data()
        total = self._fit_loop.max_batches
        if total == float("inf") or self.max_epochs == -1:
            return self.max_steps if self.max_steps != -1 else float("inf")
        steps = -(-int(total) // self.accumulate_grad_batches) * max(self.max_epochs, 1)
        return min(steps, self.max_steps) if self.max_steps != -1 else steps

    # --- entry points ----------------------------------------------------------------------------------
    def fit(
        self,
        model: Any,
        train_dataloaders: Any = None,
        val_dataloaders: Any = None,
        datamodule: Any = None,
        ckpt_path: Optional[Union[str, os.PathLike[str]]] = None,
        weights_only: bool = True,
    ) -> None:
        """Train ``model``; ``ckpt_path`` resumes from a checkpoint (epoch, step, batch, optimizer...)."""
        if _is_datamodule(train_dataloaders):  # fit(model, dm): Lightning takes a datamodule in this place too
            if datamodule is not None:
                raise ConfigurationError("fit: a datamodule was passed twice (as train_dataloaders and as datamodule)")
            train_dataloaders, datamodule = None, train_dataloaders
        if datamodule is not None and (train_dataloaders is not None or val_dataloaders is not None):
            raise ConfigurationError("fit: pass dataloaders or a datamodule, not both")
        self._loaders = {"train_dataloader": train_dataloaders, "val_dataloader": val_dataloaders}
        self._fit_loop = FitLoop(self)
        self._run("fit", model, datamodule, ckpt_path, weights_only)

    def validate(
        self,
        model: Any = None,
        dataloaders: Any = None,
        ckpt_path: Optional[Union[str, os.PathLike[str]]] = None,
        datamodule: Any = None,
        weights_only: bool = True,
        verbose: bool = True,
    ) -> list[dict[str, float]]:
        """Run validation: one dict of the stage's logged epoch metrics per loader; prints the table if ``verbose``."""
        if _is_datamodule(dataloaders):  # validate(model, dm), as Lightning allows
            dataloaders, datamodule = None, dataloaders if datamodule is None else _twice("validate")
        self._loaders = {"val_dataloader": dataloaders}
        self._verbose = verbose
        return self._run("validate", model, datamodule, ckpt_path, weights_only)  # type: ignore[no-any-return]

    def test(
        self,
        model: Any = None,
        dataloaders: Any = None,
        ckpt_path: Optional[Union[str, os.PathLike[str]]] = None,
        datamodule: Any = None,
        weights_only: bool = True,
        verbose: bool = True,
    ) -> list[dict[str, float]]:
        """Run test: one dict of the stage's logged epoch metrics per loader; prints the table if ``verbose``."""
        if _is_datamodule(dataloaders):  # test(model, dm), as Lightning allows
            dataloaders, datamodule = None, dataloaders if datamodule is None else _twice("test")
        self._loaders = {"test_dataloader": dataloaders}
        self._verbose = verbose
        return self._run("test", model, datamodule, ckpt_path, weights_only)  # type: ignore[no-any-return]

    def predict(
        self,
        model: Any = None,
        dataloaders: Any = None,
        datamodule: Any = None,
        return_predictions: Optional[bool] = None,
        ckpt_path: Optional[Union[str, os.PathLike[str]]] = None,
        weights_only: bool = True,
    ) -> Any:
        if _is_datamodule(dataloaders):  # predict(model, dm), as Lightning allows
            dataloaders, datamodule = None, dataloaders if datamodule is None else _twice("predict")
        self._loaders = {"predict_dataloader": dataloaders}
        self._return_predictions = True if return_predictions is None else return_predictions
        return self._run("predict", model, datamodule, ckpt_path, weights_only)

    def save_checkpoint(self, filepath: Union[str, os.PathLike[str]], weights_only: bool = False) -> None:
        """Write a checkpoint of the current run to ``filepath`` (atomically)."""
        if self._strategy.module is None:
            raise RuntimeError("save_checkpoint needs a model: call it during or after fit/validate/test/predict")
        checkpoint = self._dump_checkpoint(weights_only)  # every process runs the checkpoint hooks
        if self._strategy.is_global_zero:  # one writer; the others wait until the file exists
            save_checkpoint_file(checkpoint, filepath)
        self._strategy.barrier("Trainer.save_checkpoint")

    # --- the frame every entry point runs --------------------------------------------------------------
    def _run(
        self, fn: Stage, model: Any, datamodule: Any, ckpt_path: Optional[Union[str, os.PathLike[str]]], weights_only: bool
    ) -> Any:
        if model is None:
            model = self._strategy.module
            if model is None:
                raise ConfigurationError(f"{fn}: no model given and none from an earlier run")
        self._verify(fn, model, datamodule)
        ckpt_path = self._resolve_ckpt_path(ckpt_path, fn)
        checkpoint = load_checkpoint(ckpt_path, weights_only=weights_only) if ckpt_path is not None else None
        if fn == "fit" and checkpoint is not None and (
            "optimizer_states" not in checkpoint or "lr_schedulers" not in checkpoint
        ):  # known from the file alone: fail before any hook runs
            raise CheckpointError(
                f"checkpoint {ckpt_path!r} holds only weights (saved with weights_only=True); fit cannot resume"
            )
        self.ckpt_path = ckpt_path
        state = self.state
        state.fn = fn
        state.stage = {"fit": "train", "validate": "validate", "test": "test", "predict": "predict"}[fn]  # type: ignore[assignment]
        state.status = "running"
        state.should_stop = False
        self.datamodule = datamodule
        self.callbacks = list(self._trainer_callbacks)
        self._dispatch = Dispatcher(self, model, self.callbacks, datamodule, state, checks=self.check_hooks)
        self._strategy.connect(model, self._dispatch)
        _attach(model, self)
        self._takes_idx = {}
        self._identity_transfer = tuple(  # type: ignore[assignment]
            self._dispatch.data_owner(h) == "module" and self._dispatch.is_default(h, identity)
            for h, identity in (
                ("on_before_batch_transfer", True),
                ("transfer_batch_to_device", False),
                ("on_after_batch_transfer", True),
            )
        )
        d = self._dispatch
        try:
            self._attach_model_callbacks()
            self._verify_loop_configuration(fn)
            strategy = self._strategy
            strategy.setup_environment()
            with strategy.prepare_data_barrier():  # local rank 0 per node, or global rank 0 (per_node=False)
                if datamodule is not None and _prepares_data(strategy, datamodule):
                    d.datamodule_hook("prepare_data")
                if _prepares_data(strategy, model):
                    d.module_hook("prepare_data")
            if datamodule is not None:
                d.datamodule_hook("setup", stage=fn)
            d.callback_hooks("setup", fn)
            d.module_hook("setup", stage=fn)
            d.module_hook("configure_sharded_model")
            d.module_hook("configure_model")
            if checkpoint is not None:
                self._restore_model_and_callbacks(checkpoint)
            self._metrics.reset_results()  # every entry point starts with empty metric dicts (Lightning)
            self._metrics.reset_metrics()
            self._strategy.model_to_device()
            if fn == "fit":
                self._configure_optimizers()
                d.hook("on_fit_start")
                self._metrics.log_hyperparams(model, datamodule)
                if checkpoint is not None:
                    self._restore_training_state(checkpoint)
            with anomaly_context(self):  # Trainer(detect_anomaly=True)
                result = self._run_stage(fn)
            if fn == "fit":
                d.hook("on_fit_end")
            if datamodule is not None:
                d.datamodule_hook("teardown", stage=fn)
            d.callback_hooks("teardown", fn)
            d.module_hook("teardown", stage=fn)
            self._metrics.finalize("success")
            self._strategy.teardown()
            self._metrics.teardown()
        except BaseException as exc:
            state.status = "interrupted"
            run_exception_handlers(self, exc)  # engine/_faults.py: all of them run; the original propagates
            state.stage = None
            raise
        state.status = "finished"
        state.stage = None
        return result

    def _resolve_ckpt_path(
        self, ckpt_path: Optional[Union[str, os.PathLike[str]]], fn: str = "fit"
    ) -> Optional[str]:
        """``"best"`` and ``"last"`` name the checkpoint callback's files, as in Lightning."""
        if ckpt_path not in ("best", "last"):
            return None if ckpt_path is None else os.fspath(ckpt_path)
        if ckpt_path == "last":  # from disk, as Lightning: a new process finds the last run's last.ckpt
            from loophooks.engine.callbacks import find_last_checkpoint

            return find_last_checkpoint(self, fn)
        cb = self.checkpoint_callback
        path = cb.best_model_path if cb is not None else None
        if not path:
            raise CheckpointError(f'ckpt_path="{ckpt_path}": no checkpoint callback has saved a {ckpt_path} checkpoint')
        return path

    def _run_stage(self, fn: Stage) -> Any:
        module = self._strategy.module
        if isinstance(module, nn.Module):
            module.zero_grad()
        if fn == "fit":
            self._fit_loop.run_sanity_check()
            self._fit_loop.run()
            return None
        if fn == "predict":
            self._predict_loop = PredictLoop(self)
            return self._predict_loop.run(self._return_predictions)
        self._eval_loop = EvalLoop(self, "validation" if fn == "validate" else "test")
        outputs = self._eval_loop.run()
        results = [{k: v.item() if isinstance(v, torch.Tensor) else v for k, v in out.items()} for out in outputs]
        if self._verbose and self.is_global_zero:
            print_results(results, fn)
        return results

    # --- helpers the loops use -------------------------------------------------------------------------
    def _request_loaders(self, source: str) -> Any:
        given = self._loaders.get(source)
        if given is not None:
            return self._distribute(source, given)
        d = self._dispatch
        if self.datamodule is not None and is_overridden(self.datamodule, source):
            return self._distribute(source, d.datamodule_hook(source))
        if d.overridden(source):
            return self._distribute(source, d.module_hook(source))
        return None

    def _distribute(self, source: str, loaders: Any) -> Any:
        """Each process's share of the loaders (engine/_sampler.py); unchanged on one device."""
        if isinstance(loaders, CombinedLoader):  # each of its loaders gets its share; the nesting stays
            loaders.flattened = list(self._distribute(source, loaders.flattened))
            return loaders
        for loader in loaders.values() if isinstance(loaders, dict) else (
            loaders if isinstance(loaders, (list, tuple)) else (loaders,)
        ):
            install_worker_seeding(loader)  # seed_everything(workers=True), engine/_seed.py
        return self._strategy.process_dataloaders(
            source,
            loaders,
            use_distributed_sampler=self.use_distributed_sampler,
            allow_zero_length=self.allow_zero_length_dataloader_with_multiple_devices,
        )

    def _has_source(self, source: str) -> bool:
        if self._loaders.get(source) is not None:
            return True
        if self.datamodule is not None and is_overridden(self.datamodule, source):
            return True
        return self._dispatch.overridden(source)

    def _enable_validation(self) -> bool:
        return self._has_source("val_dataloader") and self._dispatch.has("validation_step") and self.limit_val_batches > 0

    def _transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """The three batch-transfer hooks; each must hand a batch on.

        A loader that yields None (a ``collate_fn`` dropping a whole batch) is named
        as the cause before any hook sees it: Lightning skips such a batch with a
        warning, which the engine does not support (see docs/ERRORS.md).
        """
        if batch is None:
            _none_batch(self.state, dataloader_idx)
        d = self._dispatch
        if self._precision.module_dtype is not None:  # a "-true" precision: inputs in the model's dtype
            batch = self._precision.convert_input(batch)
        before, move, after = self._identity_transfer
        if not before:
            batch = d.data_hook("on_before_batch_transfer", batch, dataloader_idx)
            if batch is None:
                raise HookValueError("on_before_batch_transfer", "return value", "the batch (not None)", batch)
        if not move:
            batch = d.data_hook("transfer_batch_to_device", batch, self._strategy.root_device, dataloader_idx)
            if batch is None:
                raise HookValueError("transfer_batch_to_device", "return value", "the batch (not None)", batch)
        if not after:
            batch = d.data_hook("on_after_batch_transfer", batch, dataloader_idx)
            if batch is None:
                raise HookValueError("on_after_batch_transfer", "return value", "the batch (not None)", batch)
        return batch

    def _takes_batch_idx(self, step: str) -> bool:
        """Whether a step method accepts ``batch_idx`` (Lightning passes it only then); looked up once per run."""
        known = self._takes_idx.get(step)
        if known is None:
            fn = getattr(self._strategy.module, step, None)
            known = True
            if fn is not None:
                try:
                    params = list(inspect.signature(fn).parameters.values())
                except (TypeError, ValueError):  # a builtin or C function: assume it takes batch_idx
                    params = []
                if params:
                    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
                    var = any(p.kind is p.VAR_POSITIONAL for p in params)
                    known = var or len(positional) >= 2
            self._takes_idx[step] = known
        return known

    def _check_loader_idx(self, step: str, multi: bool) -> None:
        """Lightning's check before an evaluation loop, on the step and the model's batch hooks.

        With several loaders each must take ``dataloader_idx`` (or ``*args``); with one, it is not
        passed, so none may require it (a default, ``dataloader_idx=0``, is fine).
        """
        module = self._strategy.module
        kind = step[: -len("_step")]
        for name in (step, f"on_{kind}_batch_start", f"on_{kind}_batch_end"):
            fn = getattr(module, name, None)
            if fn is None or (name != step and not is_overridden(module, name)):
                continue
            try:
                params = inspect.signature(fn).parameters
            except (TypeError, ValueError):
                continue
            idx = params.get("dataloader_idx")
            owner = f"{type(module).__name__}.{name}"
            if multi and idx is None and not any(p.kind is p.VAR_POSITIONAL for p in params.values()):
                raise ConfigurationError(f"{owner} must accept dataloader_idx: there are several loaders")
            if not multi and idx is not None and idx.default is idx.empty:
                raise ConfigurationError(
                    f"{owner} requires dataloader_idx, which the loop passes only when there are several"
                    " loaders; there is one: give it a default (`dataloader_idx: int = 0`) or leave it out"
                )

    # --- setup -----------------------------------------------------------------------------------------
    def _verify(self, fn: Stage, model: Any, datamodule: Any) -> None:
        if not isinstance(model, nn.Module):
            raise ConfigurationError(f"{fn}: the model must be a torch.nn.Module; received {type(model).__name__}")
        from loophooks import spec

        for checker, obj in (("verify_module", model), ("verify_datamodule", datamodule)):
            check = getattr(spec, checker, None)
            if obj is not None and check is not None:
                check(obj)
        check_cb = getattr(spec, "verify_callback", None)
        if check_cb is not None:
            for cb in self._trainer_callbacks:
                if not isinstance(cb, (ModelCheckpoint, EarlyStopping, ProgressBar)):
                    check_cb(cb)

    def _verify_loop_configuration(self, fn: Stage) -> None:
        d = self._dispatch
        model = type(self._strategy.module).__name__
        if fn == "fit":
            if not d.has("training_step"):
                raise ConfigurationError(f"fit: {model} has no training_step")
            if not d.overridden("configure_optimizers"):
                raise ConfigurationError(f"fit: {model} has no configure_optimizers")
            if not self._strategy.automatic and self.gradient_clip_val:
                raise ConfigurationError("gradient_clip_val needs automatic optimization; clip in training_step instead")
            if not self._strategy.automatic and self.accumulate_grad_batches != 1:
                raise ConfigurationError("accumulate_grad_batches needs automatic optimization")
        step = {"validate": "validation_step", "test": "test_step", "predict": "predict_step"}.get(fn)
        if step is not None and not d.has(step):
            raise ConfigurationError(f"{fn}: {model} has no {step}")
        if step is not None:
            source, limit = {
                "validate": ("val_dataloader", self.limit_val_batches),
                "test": ("test_dataloader", self.limit_test_batches),
                "predict": ("predict_dataloader", self.limit_predict_batches),
            }[fn]
            # Lightning raises too (after setup); without a loader the run would return empty results silently.
            if limit and not self._has_source(source):
                raise ConfigurationError(
                    f"`{source}` must be implemented to be used with the Trainer: {fn} got no dataloaders, "
                    f"and neither {model} nor a datamodule defines {source}"
                )

    def _attach_model_callbacks(self) -> None:
        d = self._dispatch
        extra = d.module_hook("configure_callbacks")
        if not extra:
            return
        extra = list(extra) if isinstance(extra, (list, tuple)) else [extra]
        types = {type(c) for c in extra}
        overridden = {type(c) for c in self.callbacks if any(issubclass(t, type(c)) for t in types) and type(c) is not Callback}
        callbacks = [c for c in self.callbacks if type(c) not in overridden] + extra
        self.callbacks = _reorder(callbacks)
        d.resolve_callbacks(self.callbacks)

    def _configure_optimizers(self) -> None:
        d = self._dispatch
        optimizers, schedulers = parse_optimizers(d.module_hook("configure_optimizers"))
        if not optimizers:
            warnings.warn("configure_optimizers returned no optimizer; training runs without stepping", stacklevel=2)
            optimizers = [_NoOptimizer()]
        if self._strategy.automatic and len(optimizers) > 1:
            raise HookValueError(
                "configure_optimizers", "return value", "one optimizer (several need manual optimization)", optimizers
            )
        self._strategy.set_optimizers(optimizers, schedulers)
        if not self._strategy.automatic:
            for lo in self._strategy.loop_optimizers:
                lo._after_step = self._count_manual_step

    def _count_manual_step(self) -> None:
        self.state.global_step += 1

    # --- checkpoints -----------------------------------------------------------------------------------
    def _dump_checkpoint(self, weights_only: bool) -> dict[str, Any]:
        module = self._strategy.module
        d = self._dispatch
        checkpoint: dict[str, Any] = {
            "epoch": self.state.epoch,
            "global_step": self.state.global_step,
            VERSION_KEY: _version(),
            "state_dict": module.state_dict(),
            "loops": {"fit_loop": self._fit_loop_state()},
        }
        lightning_entries(self, checkpoint)  # what Lightning needs to load and resume it (engine/_lightning_ckpt.py)
        if not weights_only:
            checkpoint["callbacks"] = d.callback_state_dicts()
            checkpoint["optimizer_states"] = [o.state_dict() for o in self._strategy.optimizers]
            checkpoint["lr_schedulers"] = [c.scheduler.state_dict() for c in self._strategy.lr_scheduler_configs]
            scaler_state = self._precision.state_dict()
            if scaler_state:
                checkpoint[_MIXED_KEY] = scaler_state
        dm = self.datamodule
        if dm is not None:
            dm_state = d.datamodule_hook("state_dict")
            if dm_state:
                checkpoint[type(dm).__qualname__] = dm_state
        if not weights_only:
            d.callback_hooks("on_save_checkpoint", checkpoint)
        d.module_hook("on_save_checkpoint", checkpoint)
        return checkpoint

    def _fit_loop_state(self) -> dict[str, Any]:
        """Where a fit restored from this checkpoint continues."""
        state = self.state
        fit = self._fit_loop
        epoch, done, mid = state.epoch, 0, False
        if fit.in_epoch_end:
            epoch += 1
        elif state.fn == "fit" and state.epoch_open:
            # A batch whose on_train_batch_end is running counts as done (Lightning's rule).
            done = state.batches_done + (1 if fit.epoch_loop.in_batch_end else 0)
            mid = done > 0
        return {
            "epoch": epoch,
            "global_step": state.global_step,
            "batches_done": done,
            "mid_epoch": mid,
            "total_batch_idx": state.total_batch_idx,
            "epoch_rng": fit.epoch_rng if mid else None,
            "rng": torch.get_rng_state(),
        }

    def _restore_model_and_callbacks(self, checkpoint: dict[str, Any]) -> None:
        d = self._dispatch
        d.module_hook("on_load_checkpoint", checkpoint)
        module = self._strategy.module
        try:
            module.load_state_dict(checkpoint["state_dict"], strict=getattr(module, "strict_loading", True))
        except (RuntimeError, KeyError, TypeError) as exc:  # missing/unexpected keys, wrong shapes
            raise CheckpointError(
                f"checkpoint {self.ckpt_path!r} does not fit {type(module).__name__}: {exc}"
            ) from exc
        dm = self.datamodule
        if dm is not None and type(dm).__qualname__ in checkpoint:
            d.datamodule_hook("load_state_dict", checkpoint[type(dm).__qualname__])
        if checkpoint.get("callbacks") is not None:
            d.callback_hooks("on_load_checkpoint", checkpoint)
            d.callback_load_state_dicts(checkpoint["callbacks"])

    def _restore_training_state(self, checkpoint: dict[str, Any]) -> None:
        self._precision.load_state_dict(checkpoint.get(_MIXED_KEY, {}))
        loop = (checkpoint.get("loops") or {}).get("fit_loop")
        state = self.state
        if isinstance(loop, dict) and "batches_done" in loop:
            state.epoch = int(loop["epoch"])
            state.global_step = int(loop["global_step"])
            state.total_batch_idx = int(loop.get("total_batch_idx", -1))
            self._fit_loop.resume = ResumePoint(
                int(loop["batches_done"]), bool(loop["mid_epoch"]), loop.get("epoch_rng"), loop.get("rng")
            )
        else:  # Lightning's checkpoint: its progress counters say where (engine/_lightning_ckpt.py)
            try:
                point = read_lightning_loops(checkpoint, self.ckpt_path)
            except CheckpointError:
                raise
            except Exception as exc:  # counters of the wrong type in a damaged file
                raise CheckpointError(
                    f"checkpoint {self.ckpt_path!r}: Lightning loop state cannot be read: {type(exc).__name__}: {exc}"
                ) from exc
            state.epoch = point.epoch
            state.global_step = point.global_step
            state.total_batch_idx = point.total_batch_idx
            self._fit_loop.resume = ResumePoint(point.batches_done, point.mid_epoch, None, None)
        if self.max_epochs != -1 and state.epoch > self.max_epochs:
            raise CheckpointError(
                f"checkpoint {self.ckpt_path!r} is at epoch {state.epoch}, beyond Trainer(max_epochs={self.max_epochs})"
            )
        if "optimizer_states" not in checkpoint or "lr_schedulers" not in checkpoint:
            raise CheckpointError(
                f"checkpoint {self.ckpt_path!r} holds only weights (saved with weights_only=True); fit cannot resume"
            )
        states = checkpoint["optimizer_states"]
        if len(states) != len(self._strategy.optimizers):
            raise CheckpointError(
                f"checkpoint {self.ckpt_path!r} has {len(states)} optimizer states; configure_optimizers returned "
                f"{len(self._strategy.optimizers)} optimizers"
            )
        for i, (opt, opt_state) in enumerate(zip(self._strategy.optimizers, states)):
            try:
                opt.load_state_dict(opt_state)
            except (ValueError, KeyError, TypeError) as exc:  # parameter groups of another model
                raise CheckpointError(
                    f"checkpoint {self.ckpt_path!r}: optimizer state {i} does not fit {type(opt).__name__}: {exc}"
                ) from exc
        configs = self._strategy.lr_scheduler_configs
        if len(checkpoint["lr_schedulers"]) != len(configs):
            raise CheckpointError(
                f"checkpoint {self.ckpt_path!r} has {len(checkpoint['lr_schedulers'])} scheduler states; "
                f"configure_optimizers returned {len(configs)} schedulers"
            )
        for i, (config, sched_state) in enumerate(zip(configs, checkpoint["lr_schedulers"])):
            try:
                config.scheduler.load_state_dict(sched_state)
            except Exception as exc:  # a state of another scheduler type, or a damaged one
                raise CheckpointError(
                    f"checkpoint {self.ckpt_path!r}: scheduler state {i} does not fit "
                    f"{type(config.scheduler).__name__}: {type(exc).__name__}: {exc}"
                ) from exc


def _is_datamodule(obj: Any) -> bool:
    return isinstance(obj, LoopDataModule)


def _twice(fn: str) -> Any:
    raise ConfigurationError(f"{fn}: a datamodule was passed twice (as dataloaders and as datamodule)")


_LOADER_OF_STAGE = {
    "train": "train_dataloader",
    "sanity_check": "val_dataloader",
    "validate": "val_dataloader",
    "test": "test_dataloader",
    "predict": "predict_dataloader",
}


def _none_batch(state: LoopState, dataloader_idx: int) -> NoReturn:
    loader = _LOADER_OF_STAGE.get(state.stage or "", "the dataloader")
    index = state.batch_idx if state.stage == "train" else state.eval_batch_idx
    raise ConfigurationError(
        f"{loader} (loader {dataloader_idx}) yielded None as batch {index}: a batch must not be None. Lightning "
        "skips such batches with a warning; this engine does not support them: drop empty batches in the "
        "dataset or collate_fn instead"
    )


def _prepares_data(strategy: Strategy, owner: Any) -> bool:
    """Whether this process runs ``owner.prepare_data``: local rank 0 per node, or global rank 0 only."""
    if getattr(owner, "prepare_data_per_node", True):
        return strategy.local_rank == 0
    return strategy.global_rank == 0


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("loophooks")
    except Exception:  # not installed as a distribution (running from a source tree)
        return "0+unknown"


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


def _reorder(callbacks: list[Any]) -> list[Any]:
    """Checkpoint callbacks last, others in their order (Lightning's rule)."""
    return [c for c in callbacks if not isinstance(c, ModelCheckpoint)] + [
        c for c in callbacks if isinstance(c, ModelCheckpoint)
    ]


def _attach(model: Any, trainer: Trainer) -> None:
    """Give the model its ``trainer`` (hooks and the default bodies read ``self.trainer``)."""
    if isinstance(model, LoopModule):
        model.trainer = trainer
        return
    try:
        object.__setattr__(model, "trainer", trainer)
    except (AttributeError, TypeError):  # a read-only property of some other base class
        pass
