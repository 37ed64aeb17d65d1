"""``LoopModule``: an ``nn.Module`` with every hook's default and the helpers hooks use.

A model does not have to subclass it: the engine accepts any ``nn.Module`` with
the step methods it needs. Hooks a model lacks behave as the defaults here, which
are the spec's defaults (the dispatcher binds them to the model). The defaults
use only ``self.trainer`` and the hook's arguments, so they work on any module.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any, Callable, Literal, Optional, Union, overload

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from loophooks.engine._hparams import HyperparametersMixin
from loophooks.engine._log_options import LogRequest
from loophooks.engine._module_api import ModuleAPI
from loophooks.spec import (
    CheckpointHooks,
    ConfigureCallbacks,
    DataHooks,
    ModelHooks,
    OptimizationMethods,
)

if TYPE_CHECKING:
    from loophooks.engine._optimization import LoopOptimizer
    from loophooks.engine._trainer import Trainer

__all__ = ["LoopDataModule", "LoopModule", "clip_gradients"]


def clip_gradients(
    trainer: Trainer,
    optimizer: Union[Optimizer, LoopOptimizer],
    gradient_clip_val: Optional[Union[int, float]] = None,
    gradient_clip_algorithm: Optional[str] = None,
) -> None:
    """Clip the gradients of ``optimizer``'s parameters; ``None`` means the Trainer's setting."""
    if gradient_clip_val is None:
        gradient_clip_val = trainer.gradient_clip_val
    if gradient_clip_algorithm is None:
        gradient_clip_algorithm = trainer.gradient_clip_algorithm or "norm"
    if not gradient_clip_val or gradient_clip_val <= 0:
        return
    if gradient_clip_algorithm not in ("norm", "value"):
        raise ValueError(f"gradient_clip_algorithm must be 'norm' or 'value'; received {gradient_clip_algorithm!r}")
    from loophooks.spec._defaults import clip_gradients_of

    clip_gradients_of(optimizer, gradient_clip_val, gradient_clip_algorithm)  # the spec's one implementation


class LoopModule(
    ModuleAPI,
    HyperparametersMixin,
    nn.Module,
    ModelHooks,
    DataHooks,
    CheckpointHooks,
    OptimizationMethods,
    ConfigureCallbacks,
):
    """Convenience base for models: the spec's hook defaults plus ``trainer``, ``log``, ``optimizers()`` and friends.

    Every hook's default is inherited from the spec's Protocols (the hook table's
    one implementation); LoopModule only adds what needs a trainer.

    Set ``self.automatic_optimization = False`` to step optimizers yourself in
    ``training_step`` with :meth:`manual_backward` and ``self.optimizers()``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._trainer: Trainer | None = None
        self.automatic_optimization: bool = True

    # --- what hooks read -------------------------------------------------------------------------
    @property
    def trainer(self) -> Trainer:
        if self._trainer is None:
            raise RuntimeError(f"{type(self).__name__} is not attached to a Trainer")
        return self._trainer

    @trainer.setter
    def trainer(self, trainer: Trainer | None) -> None:
        self._trainer = trainer

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        return torch.device("cpu")

    @property
    def current_epoch(self) -> int:
        return self._trainer.current_epoch if self._trainer is not None else 0

    @property
    def global_step(self) -> int:
        return self._trainer.global_step if self._trainer is not None else 0

    # A type checker cannot know how many optimizers configure_optimizers returns, so the plain call is a
    # union (Lightning's return). ``as_list=True`` always returns the list: `g, d = self.optimizers(as_list=True)`
    # unpacks with no cast and no isinstance.
    @overload
    def optimizers(self, *, as_list: Literal[False] = False) -> Union[LoopOptimizer, list[LoopOptimizer]]: ...

    @overload
    def optimizers(self, *, as_list: Literal[True]) -> list[LoopOptimizer]: ...

    @overload
    def optimizers(self, *, as_list: bool) -> Union[LoopOptimizer, list[LoopOptimizer]]: ...

    def optimizers(self, *, as_list: bool = False) -> Union[LoopOptimizer, list[LoopOptimizer]]:
        """The optimizers from ``configure_optimizers``: one, or a list when there are several.

        ``as_list=True`` returns a list even for one optimizer; its type says so, so
        ``g_opt, d_opt = self.optimizers(as_list=True)`` type-checks as it is.
        """
        opts = self.trainer.strategy.loop_optimizers
        if as_list:
            return list(opts)
        return opts[0] if len(opts) == 1 else list(opts)

    def lr_schedulers(self) -> Any:
        """The schedulers from ``configure_optimizers``: None, one, or a list."""
        scheds = [c.scheduler for c in self.trainer.lr_scheduler_configs]
        if not scheds:
            return None
        return scheds[0] if len(scheds) == 1 else scheds

    def manual_backward(
        self,
        loss: Tensor,
        gradient: Optional[Tensor] = None,
        retain_graph: Optional[bool] = None,
        create_graph: bool = False,
        inputs: Union[Tensor, Sequence[Tensor], None] = None,
    ) -> None:
        """Backward for manual optimization, with the hooks and the precision's scaling.

        The parameters after ``loss`` are ``Tensor.backward``'s, typed as such (Lightning
        passes ``*args, **kwargs`` on to it), so Lightning 1.x's
        ``manual_backward(loss, optimizer)`` is a type error, and a runtime error here.
        """
        if isinstance(gradient, Optimizer):  # a LoopOptimizer's class derives from its optimizer's
            raise TypeError(
                f"manual_backward(loss, {type(gradient).__name__}): the optimizer argument is Lightning 1.x's"
                " signature; the parameters after `loss` are Tensor.backward's (gradient, retain_graph,"
                " create_graph, inputs). Call `self.manual_backward(loss)`, then step the optimizer."
            )
        kwargs: dict[str, Any] = {}
        # Only what was given, so a model's own `backward(self, loss)` override keeps working.
        if gradient is not None:
            kwargs["gradient"] = gradient
        if retain_graph is not None:
            kwargs["retain_graph"] = retain_graph
        if create_graph:
            kwargs["create_graph"] = create_graph
        if inputs is not None:
            kwargs["inputs"] = inputs
        self.trainer.strategy.backward(loss, None, **kwargs)

    @property
    def logger(self) -> Any:
        """The Trainer's first logger, or None (Lightning's ``self.logger``)."""
        return self._trainer.logger if self._trainer is not None else None

    @property
    def loggers(self) -> list[Any]:
        """The Trainer's loggers (Lightning's ``self.loggers``)."""
        return self._trainer.loggers if self._trainer is not None else []

    def log(
        self,
        name: str,
        value: Any,
        prog_bar: bool = False,
        logger: Optional[bool] = None,
        on_step: Optional[bool] = None,
        on_epoch: Optional[bool] = None,
        reduce_fx: Union[str, Callable[..., Any]] = "mean",
        enable_graph: bool = False,
        sync_dist: bool = False,
        sync_dist_group: Optional[Any] = None,
        add_dataloader_idx: bool = True,
        batch_size: Optional[int] = None,
        metric_attribute: Optional[str] = None,
        rank_zero_only: bool = False,
    ) -> None:
        """Log a scalar (number, one-element tensor) or a torchmetrics ``Metric``, with Lightning 2.6's meaning.

        ``on_step``/``on_epoch`` default per hook (spec/_logging.py); epoch values are
        reduced with ``reduce_fx`` (``mean`` weighted by ``batch_size``, inferred from the
        batch when not given); both levels give ``name_step`` and ``name_epoch`` keys;
        several evaluation loaders give ``name/dataloader_idx_N``. ``sync_dist=True``
        reduces over the processes of a distributed run. See spec/METRICS.md.
        """
        # fmt: off
        request = _new_request(LogRequest, (
            prog_bar, logger, on_step, on_epoch, reduce_fx, enable_graph, sync_dist, sync_dist_group,
            add_dataloader_idx, metric_attribute, rank_zero_only,
        ))
        # fmt: on
        trainer = self._trainer
        if trainer is None:
            _warn_detached(self, name)
            return
        trainer._metrics.log(self, name, value, batch_size, request)

    def log_dict(
        self,
        dictionary: Mapping[str, Any],
        prog_bar: bool = False,
        logger: Optional[bool] = None,
        on_step: Optional[bool] = None,
        on_epoch: Optional[bool] = None,
        reduce_fx: Union[str, Callable[..., Any]] = "mean",
        enable_graph: bool = False,
        sync_dist: bool = False,
        sync_dist_group: Optional[Any] = None,
        add_dataloader_idx: bool = True,
        batch_size: Optional[int] = None,
        rank_zero_only: bool = False,
    ) -> None:
        """:meth:`log` for each item (a torchmetrics ``MetricCollection`` logs each of its metrics)."""
        # one request for every item: log_dict has no metric_attribute (each metric's is looked up)
        # fmt: off
        request = _new_request(LogRequest, (
            prog_bar, logger, on_step, on_epoch, reduce_fx, enable_graph, sync_dist, sync_dist_group,
            add_dataloader_idx, None, rank_zero_only,
        ))
        # fmt: on
        items = dictionary.items(keep_base=False) if _is_metric_collection(dictionary) else dictionary.items()  # type: ignore[call-arg]
        trainer = self._trainer
        for name, value in items:
            if trainer is None:
                _warn_detached(self, name)
            else:
                trainer._metrics.log(self, name, value, batch_size, request)

    def clip_gradients(
        self,
        optimizer: Union[Optimizer, LoopOptimizer],
        gradient_clip_val: Optional[Union[int, float]] = None,
        gradient_clip_algorithm: Optional[str] = None,
    ) -> None:
        clip_gradients(self.trainer, optimizer, gradient_clip_val, gradient_clip_algorithm)

    def predict_step(self, batch: Any, *args: Any, **kwargs: Any) -> Any:
        """Lightning's default: the model applied to the batch.

        ``*args`` (Lightning's own signature): an override may take ``(batch)``,
        ``(batch, batch_idx)`` or ``(batch, batch_idx, dataloader_idx=0)``.
        """
        return self(batch)

    # --- what the loop calls, where LoopModule knows more than the spec's defaults -----------------
    def backward(self, loss: Tensor, *args: Any, **kwargs: Any) -> None:
        """The spec's default, passing on what ``manual_backward`` was given (``retain_graph``, ...)."""
        loss.backward(*args, **kwargs)  # type: ignore[no-untyped-call]

    def configure_gradient_clipping(
        self,
        optimizer: Optimizer,
        gradient_clip_val: Optional[Union[int, float]] = None,
        gradient_clip_algorithm: Optional[str] = None,
    ) -> None:
        if gradient_clip_val is None and not self.trainer.gradient_clip_val:
            return  # nothing to clip: skip the attribute look-ups below (this runs every step)
        clip = getattr(self, "clip_gradients", None)
        if clip is not None:
            clip(optimizer, gradient_clip_val, gradient_clip_algorithm)
        else:
            clip_gradients(self.trainer, optimizer, gradient_clip_val, gradient_clip_algorithm)


# A LogRequest straight from its values: NamedTuple's own __new__ is a Python call, which would double the cost
# of building the request on self.log's path; tests/engine/test_engine_log_request.py checks the field order.
_new_request = tuple.__new__


def _warn_detached(module: LoopModule, name: str) -> None:
    """Lightning's rule: a step method run without a Trainer may call ``self.log``; the value goes nowhere."""
    warnings.warn(
        f"self.log({name!r}, ...) was called but {type(module).__name__} is not attached to a Trainer; ignored",
        UserWarning,
        stacklevel=3,
    )


def _is_metric_collection(value: Any) -> bool:
    """A torchmetrics ``MetricCollection`` (duck-typed: its ``items`` takes ``keep_base``)."""
    return type(value).__name__ == "MetricCollection" and hasattr(value, "compute") and hasattr(value, "_modules")


def _register() -> None:
    from loophooks.spec import register_base

    register_base(LoopModule)


_register()


class LoopDataModule(HyperparametersMixin, DataHooks):
    """Convenience base for datamodules: the data hooks you override, plus ``state_dict``/``load_state_dict``.

    The engine asks the datamodule for loaders and batch-transfer hooks it
    overrides; everything else falls back to the model, as in Lightning.
    """

    def __init__(self) -> None:
        self.trainer: Any = None

    @classmethod
    def load_from_checkpoint(
        cls,
        checkpoint_path: Union[str, os.PathLike[str], IO[bytes]],
        map_location: Any = None,
        hparams_file: Any = None,
        weights_only: Optional[bool] = None,
        **kwargs: Any,
    ) -> Any:
        """A datamodule built from a checkpoint's ``datamodule_hyper_parameters`` updated with ``kwargs``."""
        from loophooks.engine._loading import load_object

        return load_object(
            cls,
            checkpoint_path,
            kind="datamodule",
            map_location=map_location,
            hparams_file=hparams_file,
            weights_only=weights_only,
            **kwargs,
        )

    @classmethod
    def from_datasets(
        cls,
        train_dataset: Any = None,
        val_dataset: Any = None,
        test_dataset: Any = None,
        predict_dataset: Any = None,
        batch_size: int = 1,
        num_workers: int = 0,
        **datamodule_kwargs: Any,
    ) -> LoopDataModule:
        """A datamodule whose loaders wrap the given datasets (or lists/dicts of them), as Lightning's.

        Training loaders shuffle unless the dataset is iterable; the others keep order.
        """
        from loophooks.engine._module_api import datamodule_from_datasets

        datamodule: LoopDataModule = datamodule_from_datasets(
            cls, train_dataset, val_dataset, test_dataset, predict_dataset, batch_size, num_workers, datamodule_kwargs
        )
        return datamodule

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        pass

    def on_exception(self, exception: BaseException) -> None:
        pass


def _register_datamodule() -> None:
    from loophooks.spec import register_base

    register_base(LoopDataModule)


_register_datamodule()
