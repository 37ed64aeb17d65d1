# The Trainer's contract for type checkers: the option values the engine accepts, what each entry point
# needs of a model, and what it returns. Names, parameter kinds and defaults match engine/_trainer.py
# (tests/test_typing.py compares them); only the types are narrower than the runtime's `Any`.

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any, Literal, Protocol, overload

import torch
from torch import nn
from torch.nn import Parameter
from typing_extensions import TypeAlias

from loophooks.engine._callbacks import EarlyStopping, ModelCheckpoint
from loophooks.engine._optimization import LRSchedulerConfig
from loophooks.engine._predict_loop import PredictLoop
from loophooks.engine._profilers import Profiler
from loophooks.engine._state import LoopState
from loophooks.engine._strategy import Strategy
from loophooks.engine._trainer_api import TrainerAPI
from loophooks.spec._protocols import Callback, ConfigureOptimizers, DataHooks

__all__ = ["Trainer"]

Number: TypeAlias = int | float

_Precision: TypeAlias = Literal[
    "32-true", "bf16-mixed", "16-mixed", "64-true", "bf16-true", "16-true", "32", "bf16", "16", "64", 32, 16, 64
]
_Accelerator: TypeAlias = Literal["cpu", "cuda", "gpu", "auto"]
_Devices: TypeAlias = int | str | list[int] | tuple[int, ...] | None
# "ddp" (or a DDPStrategy, a Strategy) runs one process per device; see engine/_ddp.py.
_StrategyOption: TypeAlias = Literal["auto", "single_device", "ddp"] | Strategy | None
# A Sequence, not a list: list is invariant, so a `list[MyCallback]` built beforehand would not be a list[Callback].
_Callbacks: TypeAlias = Sequence[Callback] | Callback | None
_Path: TypeAlias = str | os.PathLike[str]
_Loaders: TypeAlias = Iterable[Any] | None  # or, in the loaders' place, a datamodule: fit(model, dm), as in Lightning
_StepOutput: TypeAlias = torch.Tensor | Mapping[str, Any] | None

# What each entry point needs of a model: a torch.nn.Module (the runtime checks isinstance; a Protocol
# cannot say "a Module that also has training_step", so `parameters` stands for it) with the step the
# entry point runs. The loop passes the step's arguments by position, `batch_idx` only when the step
# declares a second parameter (Lightning's rule) and `dataloader_idx` only when there are several loaders,
# so each model Protocol is a union of the two call forms, positional-only: a step written as
# `(self, batch, batch_idx)`, `(self, batch, batch_idx, dataloader_idx=0)` or `(self, batch)` matches;
# one that requires more than the loop passes does not.
class _Module(Protocol):
    def parameters(self, recurse: bool = True) -> Iterator[Parameter]: ...

class _TrainsWithIndex(_Module, ConfigureOptimizers, Protocol):
    def training_step(self, batch: Any, batch_idx: int, /) -> _StepOutput: ...

class _TrainsOnBatch(_Module, ConfigureOptimizers, Protocol):
    def training_step(self, batch: Any, /) -> _StepOutput: ...

class _ValidatesWithIndex(_Module, Protocol):
    def validation_step(self, batch: Any, batch_idx: int, /) -> _StepOutput: ...

class _ValidatesOnBatch(_Module, Protocol):
    def validation_step(self, batch: Any, /) -> _StepOutput: ...

class _TestsWithIndex(_Module, Protocol):
    def test_step(self, batch: Any, batch_idx: int, /) -> _StepOutput: ...

class _TestsOnBatch(_Module, Protocol):
    def test_step(self, batch: Any, /) -> _StepOutput: ...

_FitModel: TypeAlias = _TrainsWithIndex | _TrainsOnBatch
_ValidateModel: TypeAlias = _ValidatesWithIndex | _ValidatesOnBatch
_TestModel: TypeAlias = _TestsWithIndex | _TestsOnBatch

class Trainer(TrainerAPI):
    max_epochs: int
    max_steps: int
    limit_train_batches: Number
    limit_val_batches: Number
    limit_test_batches: Number
    limit_predict_batches: Number
    num_sanity_val_steps: int
    check_val_every_n_epoch: int | None
    val_check_interval: Number
    accumulate_grad_batches: int
    gradient_clip_val: Number | None
    gradient_clip_algorithm: Literal["norm", "value"] | None
    default_root_dir: str
    deterministic: bool | Literal["warn"] | None
    check_hooks: bool
    callbacks: list[Any]
    state: LoopState
    datamodule: Any
    ckpt_path: str | None
    num_nodes: int
    use_distributed_sampler: bool
    allow_zero_length_dataloader_with_multiple_devices: bool
    terminate_on_nan: bool
    fast_dev_run: int | bool
    overfit_batches: Number
    min_epochs: int | None
    min_steps: int | None
    inference_mode: bool
    detect_anomaly: bool
    barebones: bool
    profiler: Profiler
    benchmark: bool | None
    reload_dataloaders_every_n_epochs: int

    def __init__(
        self,
        *,
        accelerator: _Accelerator = "auto",
        devices: _Devices = "auto",
        strategy: _StrategyOption = "auto",
        precision: _Precision = "32-true",
        callbacks: _Callbacks = None,
        max_epochs: int | None = None,
        max_steps: int = -1,
        limit_train_batches: Number | None = None,
        limit_val_batches: Number | None = None,
        limit_test_batches: Number | None = None,
        limit_predict_batches: Number | None = None,
        num_sanity_val_steps: int | None = None,
        check_val_every_n_epoch: int | None = 1,
        val_check_interval: Number | None = None,
        accumulate_grad_batches: int = 1,
        gradient_clip_val: Number | None = None,
        gradient_clip_algorithm: Literal["norm", "value"] | None = None,
        enable_progress_bar: bool | None = None,
        enable_checkpointing: bool | None = None,
        enable_model_summary: bool | None = None,
        default_root_dir: _Path | None = None,
        deterministic: bool | Literal["warn"] | None = None,
        check_hooks: bool | None = None,
        logger: Any = None,
        log_every_n_steps: int | None = None,
        num_nodes: int = 1,
        use_distributed_sampler: bool = True,
        allow_zero_length_dataloader_with_multiple_devices: bool = False,
        terminate_on_nan: bool = False,
        max_time: str | timedelta | dict[str, int] | None = None,
        fast_dev_run: int | bool = False,
        min_epochs: int | None = None,
        min_steps: int | None = None,
        overfit_batches: Number = 0.0,
        benchmark: bool | None = None,
        inference_mode: bool = True,
        detect_anomaly: bool = False,
        barebones: bool = False,
        profiler: Profiler | Literal["simple", "advanced", "pytorch"] | None = None,
        plugins: None = None,
        sync_batchnorm: Literal[False] = False,
        reload_dataloaders_every_n_epochs: int = 0,
        enable_autolog_hparams: Literal[True] = True,
        model_registry: None = None,
    ) -> None: ...
    @property
    def received_sigterm(self) -> bool: ...
    @property
    def current_epoch(self) -> int: ...
    @property
    def global_step(self) -> int: ...
    @property
    def training(self) -> bool: ...
    @property
    def validating(self) -> bool: ...
    @property
    def testing(self) -> bool: ...
    @property
    def predicting(self) -> bool: ...
    @property
    def sanity_checking(self) -> bool: ...
    @property
    def evaluating(self) -> bool: ...
    @property
    def should_stop(self) -> bool: ...
    @should_stop.setter
    def should_stop(self, value: bool) -> None: ...
    @property
    def is_last_batch(self) -> bool: ...
    @property
    def lightning_module(self) -> Any: ...
    @property
    def model(self) -> Any: ...
    @property
    def strategy(self) -> Strategy: ...
    @property
    def precision(self) -> Literal["32-true", "bf16-mixed", "16-mixed", "64-true", "bf16-true", "16-true"]: ...
    @property
    def scaler(self) -> torch.amp.GradScaler | None: ...
    @property
    def optimizers(self) -> list[torch.optim.Optimizer]: ...
    @property
    def lr_scheduler_configs(self) -> list[LRSchedulerConfig]: ...
    @property
    def callback_metrics(self) -> dict[str, torch.Tensor]: ...
    @property
    def logged_metrics(self) -> dict[str, torch.Tensor]: ...
    @property
    def progress_bar_metrics(self) -> dict[str, float]: ...
    @property
    def log_every_n_steps(self) -> int: ...
    @property
    def loggers(self) -> list[Any]: ...
    @loggers.setter
    def loggers(self, loggers: list[Any] | None) -> None: ...
    @property
    def logger(self) -> Any: ...
    @logger.setter
    def logger(self, logger: Any) -> None: ...
    @property
    def num_training_batches(self) -> Number: ...
    @property
    def num_val_batches(self) -> list[Number]: ...
    @property
    def num_sanity_val_batches(self) -> list[Number]: ...
    @property
    def num_test_batches(self) -> list[Number]: ...
    @property
    def val_check_batch(self) -> Number: ...
    @property
    def predict_loop(self) -> PredictLoop: ...
    @property
    def checkpoint_callback(self) -> ModelCheckpoint | None: ...
    @property
    def early_stopping_callback(self) -> EarlyStopping | None: ...
    @property
    def is_global_zero(self) -> bool: ...
    @property
    def world_size(self) -> int: ...
    @property
    def global_rank(self) -> int: ...
    @property
    def local_rank(self) -> int: ...
    @property
    def node_rank(self) -> int: ...
    @property
    def log_dir(self) -> str | None: ...
    @property
    def estimated_stepping_batches(self) -> Number: ...
    @property
    def train_dataloader(self) -> Any: ...
    @property
    def val_dataloaders(self) -> Any: ...
    @property
    def test_dataloaders(self) -> Any: ...
    @property
    def predict_dataloaders(self) -> Any: ...
    @property
    def checkpoint_callbacks(self) -> list[ModelCheckpoint]: ...
    def print(self, *args: Any, **kwargs: Any) -> None: ...
    def fit(
        self,
        model: _FitModel,
        train_dataloaders: _Loaders | DataHooks = None,
        val_dataloaders: _Loaders = None,
        datamodule: DataHooks | None = None,
        ckpt_path: _Path | None = None,
        weights_only: bool = True,
    ) -> None: ...
    def validate(
        self,
        model: _ValidateModel | None = None,
        dataloaders: _Loaders | DataHooks = None,
        ckpt_path: _Path | None = None,
        verbose: bool = True,
        datamodule: DataHooks | None = None,
        weights_only: bool = True,
    ) -> list[dict[str, float]]: ...
    def test(
        self,
        model: _TestModel | None = None,
        dataloaders: _Loaders | DataHooks = None,
        ckpt_path: _Path | None = None,
        verbose: bool = True,
        datamodule: DataHooks | None = None,
        weights_only: bool = True,
    ) -> list[dict[str, float]]: ...
    # return_predictions=True (or None, the default) returns the list; False returns None.
    @overload
    def predict(
        self,
        model: nn.Module | None = None,
        dataloaders: _Loaders | DataHooks = None,
        datamodule: DataHooks | None = None,
        return_predictions: Literal[True] | None = None,
        ckpt_path: _Path | None = None,
        weights_only: bool = True,
    ) -> list[Any]: ...
    @overload
    def predict(
        self,
        model: nn.Module | None = None,
        dataloaders: _Loaders | DataHooks = None,
        datamodule: DataHooks | None = None,
        *,
        return_predictions: Literal[False],
        ckpt_path: _Path | None = None,
        weights_only: bool = True,
    ) -> None: ...
    @overload
    def predict(
        self,
        model: nn.Module | None = None,
        dataloaders: _Loaders | DataHooks = None,
        datamodule: DataHooks | None = None,
        return_predictions: bool | None = None,
        ckpt_path: _Path | None = None,
        weights_only: bool = True,
    ) -> list[Any] | None: ...
    def save_checkpoint(self, filepath: str | os.PathLike[str], weights_only: bool = False) -> None: ...
