"""The Trainer: Lightning's options, properties and entry points, over the engine's parts.

The Trainer holds the options (validated by engine/_options.py) and answers the
properties hooks read; each entry point runs the frame of engine/_run.py, which
drives the loops (engine/_fit_loop.py, _eval_loop.py, _predict_loop.py) through a
:class:`LoopContext`. Checkpoints are dumped and restored by
engine/_checkpoint_state.py and written by engine/_checkpoint.py.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any, Literal, Optional, Union

import torch

from loophooks.engine._callbacks import EarlyStopping, ModelCheckpoint
from loophooks.engine._checkpoint_state import save_checkpoint
from loophooks.engine._context import LoopContext
from loophooks.engine._data_hooks import datamodule_in_place
from loophooks.engine._dispatch import Dispatcher
from loophooks.engine._entry_arguments import check_entry_arguments
from loophooks.engine._errors import ConfigurationError
from loophooks.engine._eval_loop import EvalLoop
from loophooks.engine._fit_loop import FitLoop
from loophooks.engine._optimization import LRSchedulerConfig
from loophooks.engine._predict_loop import PredictLoop
from loophooks.engine._loggers import configure_loggers, run_log_dir
from loophooks.engine._options import (
    Number,
    check_options,
    checks_from_env,
    choose_strategy,
    limit_option,
    trainer_callbacks,
)
from loophooks.engine._lightning_options import resolve_lightning_options, set_benchmark
from loophooks.engine._profilers import Profiler, resolve_profiler
from loophooks.engine._run import run
from loophooks.engine._strategy import Strategy
from loophooks.engine._trainer_api import TrainerAPI

__all__ = ["Trainer"]


class Trainer(TrainerAPI):
    """Runs fit, validate, test and predict with Lightning's hook order and option names.

    Options keep Lightning's names, defaults and meanings (engine/_options.py lists what each accepts;
    ``max_time`` adds a :class:`Timer`, ``enable_checkpointing`` a :class:`ModelCheckpoint`).
    ``check_hooks`` turns the spec's checks of every hook call on or off (default: ``set_checks`` /
    ``LOOPHOOKS_CHECKS``); the values the loop acts on are checked either way (:class:`HookValueError`).
    Checkpoints load with ``torch.load(weights_only=True)``; pass ``weights_only=False`` only for files
    you trust.
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
        enable_model_summary: Optional[bool] = None,
        default_root_dir: Optional[Union[str, os.PathLike[str]]] = None,
        deterministic: Optional[Union[bool, Literal["warn"]]] = None,
        check_hooks: Optional[bool] = None,
        logger: Any = None,
        log_every_n_steps: Optional[int] = None,
        num_nodes: int = 1,
        use_distributed_sampler: bool = True,
        allow_zero_length_dataloader_with_multiple_devices: bool = False,
        terminate_on_nan: bool = False,
        max_time: Union[str, timedelta, dict[str, int], None] = None,
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
        check_options(locals())  # engine/_options.py: types, NaN/inf and ranges, before anything happens
        # Lightning's options beyond the loop basics (engine/_lightning_options.py): as in Lightning, or refused
        extra = resolve_lightning_options(locals())
        enable_checkpointing, enable_progress_bar = extra.enable_checkpointing, extra.enable_progress_bar
        enable_model_summary, num_sanity_val_steps = extra.enable_model_summary, extra.num_sanity_val_steps
        self._precision, self._strategy = choose_strategy(strategy, accelerator, devices, num_nodes, precision)
        # a time budget alone, like a step budget alone, lifts the 1000-epoch default (Lightning's rule)
        self.max_epochs: int = (
            max_epochs if max_epochs is not None else (1000 if max_steps == -1 and max_time is None else -1)
        )
        self.max_steps: int = max_steps
        self.limit_train_batches = limit_option(limit_train_batches, "limit_train_batches")
        self.limit_val_batches = limit_option(limit_val_batches, "limit_val_batches")
        self.limit_test_batches = limit_option(limit_test_batches, "limit_test_batches")
        self.limit_predict_batches = limit_option(limit_predict_batches, "limit_predict_batches")
        self.num_sanity_val_steps: int = 2 if num_sanity_val_steps is None else num_sanity_val_steps
        self.check_val_every_n_epoch = check_val_every_n_epoch
        self.val_check_interval: Number = 1.0 if val_check_interval is None else val_check_interval
        self.accumulate_grad_batches: int = accumulate_grad_batches
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
        self.fast_dev_run = extra.debug.fast_dev_run
        self.overfit_batches = extra.debug.overfit_batches
        self.min_epochs = min_epochs
        self.min_steps = min_steps
        self.inference_mode = bool(inference_mode)
        self.detect_anomaly = bool(detect_anomaly)
        self.barebones = bool(barebones)
        # Trainer(profiler=...), engine/_profilers.py: a pass-through profiler when None (no hook is wrapped then)
        self.profiler: Profiler = resolve_profiler(profiler)
        self.benchmark = set_benchmark(benchmark, deterministic)
        self.reload_dataloaders_every_n_epochs = reload_dataloaders_every_n_epochs
        extra.debug.apply(self)  # fast_dev_run/overfit_batches override the limits set above
        self.num_nodes = num_nodes
        self.use_distributed_sampler = use_distributed_sampler
        self.allow_zero_length_dataloader_with_multiple_devices = allow_zero_length_dataloader_with_multiple_devices
        self._trainer_callbacks = trainer_callbacks(
            callbacks,
            enable_progress_bar=enable_progress_bar,
            enable_checkpointing=enable_checkpointing,
            enable_model_summary=enable_model_summary,
            max_time=max_time,
        )
        self.callbacks: list[Any] = list(self._trainer_callbacks)
        self._ctx = LoopContext(self, self._strategy)
        self.state = self._ctx.state
        self._metrics = self._ctx.metrics
        self._signals = self._ctx.signals
        self._metrics.log_every_n_steps = 50 if log_every_n_steps is None else log_every_n_steps
        self._metrics.loggers = configure_loggers(logger, self.default_root_dir)
        self._verbose = True
        self.datamodule: Any = None
        self._fit_loop = FitLoop(self._ctx)
        self._eval_loop: Optional[EvalLoop] = None
        self._predict_loop: Optional[PredictLoop] = None
        self._return_predictions = True
        self.ckpt_path: Optional[str] = None

    @property
    def _dispatch(self) -> Dispatcher:
        """The current (or last) run's dispatcher."""
        return self._ctx.dispatcher()

    # --- properties hooks read -------------------------------------------------------------------------
    @property
    def check_hooks(self) -> bool:
        """Whether the next run checks every hook call: ``Trainer(check_hooks=...)``, else the spec's switch
        (``set_checks``/``LOOPHOOKS_CHECKS``) read when each run starts."""
        return checks_from_env() if self._check_hooks is None else self._check_hooks

    @check_hooks.setter
    def check_hooks(self, value: Optional[bool]) -> None:
        self._check_hooks = None if value is None else bool(value)

    @property
    def received_sigterm(self) -> bool:
        """Whether the process received SIGTERM during the current (or last) run (Lightning's property)."""
        return self._signals.received_sigterm

    @property
    def current_epoch(self) -> int:
        return self.state.epoch

    @property
    def global_step(self) -> int:
        return self.state.global_step

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
        ev = self._eval_loop
        loop = ev if self.state.fn == "validate" and ev is not None else self._fit_loop.val_loop
        return list(loop.max_batches)

    @property
    def num_sanity_val_batches(self) -> list[Number]:
        cap = self.num_sanity_val_steps
        return [b if cap == -1 else min(cap, b) for b in self._fit_loop.val_loop.max_batches]

    @property
    def num_test_batches(self) -> list[Number]:
        ev = self._eval_loop
        return list(ev.max_batches) if ev is not None and ev.kind == "test" else []

    @property
    def val_check_batch(self) -> Number:
        return self._fit_loop.val_check_batch

    @property
    def predict_loop(self) -> PredictLoop:
        """The loop of the latest (or running) ``predict``; what prediction writers read."""
        return self._predict_loop if self._predict_loop is not None else PredictLoop(self._ctx)

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
        """Optimizer steps the fit will take, as Lightning estimates them (asks for the training loader if needed)."""
        return self._fit_loop.estimated_stepping_batches()

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
        check_entry_arguments("fit", **locals())  # engine/_entry_arguments.py: before any work
        train_dataloaders, datamodule = datamodule_in_place("fit", "train_dataloaders", train_dataloaders, datamodule)
        if datamodule is not None and (train_dataloaders is not None or val_dataloaders is not None):
            raise ConfigurationError("fit: pass dataloaders or a datamodule, not both")
        self._ctx.data.given = {"train_dataloader": train_dataloaders, "val_dataloader": val_dataloaders}
        self._fit_loop = FitLoop(self._ctx)
        run(self, "fit", model, datamodule, ckpt_path, weights_only)

    def validate(
        self,
        model: Any = None,
        dataloaders: Any = None,
        ckpt_path: Optional[Union[str, os.PathLike[str]]] = None,
        verbose: bool = True,
        datamodule: Any = None,
        weights_only: bool = True,
    ) -> list[dict[str, float]]:
        """Run validation: one dict of the stage's logged epoch metrics per loader; prints the table if ``verbose``."""
        check_entry_arguments("validate", **locals())  # engine/_entry_arguments.py: before any work
        dataloaders, datamodule = datamodule_in_place("validate", "dataloaders", dataloaders, datamodule)
        self._verbose = verbose
        self._ctx.data.given = {"val_dataloader": dataloaders}
        return run(self, "validate", model, datamodule, ckpt_path, weights_only)  # type: ignore[no-any-return]

    def test(
        self,
        model: Any = None,
        dataloaders: Any = None,
        ckpt_path: Optional[Union[str, os.PathLike[str]]] = None,
        verbose: bool = True,
        datamodule: Any = None,
        weights_only: bool = True,
    ) -> list[dict[str, float]]:
        """Run test: one dict of the stage's logged epoch metrics per loader; prints the table if ``verbose``."""
        check_entry_arguments("test", **locals())  # engine/_entry_arguments.py: before any work
        dataloaders, datamodule = datamodule_in_place("test", "dataloaders", dataloaders, datamodule)
        self._verbose = verbose
        self._ctx.data.given = {"test_dataloader": dataloaders}
        return run(self, "test", model, datamodule, ckpt_path, weights_only)  # type: ignore[no-any-return]

    def predict(
        self,
        model: Any = None,
        dataloaders: Any = None,
        datamodule: Any = None,
        return_predictions: Optional[bool] = None,
        ckpt_path: Optional[Union[str, os.PathLike[str]]] = None,
        weights_only: bool = True,
    ) -> Any:
        check_entry_arguments("predict", **locals())  # engine/_entry_arguments.py: before any work
        dataloaders, datamodule = datamodule_in_place("predict", "dataloaders", dataloaders, datamodule)
        self._ctx.data.given = {"predict_dataloader": dataloaders}
        self._return_predictions = True if return_predictions is None else return_predictions
        return run(self, "predict", model, datamodule, ckpt_path, weights_only)

    def save_checkpoint(self, filepath: Union[str, os.PathLike[str]], weights_only: bool = False) -> None:
        """Write a checkpoint of the current run to ``filepath`` (atomically)."""
        check_entry_arguments("save_checkpoint", filepath=filepath, weights_only=weights_only)
        save_checkpoint(self._ctx, self._fit_loop, filepath, weights_only)
