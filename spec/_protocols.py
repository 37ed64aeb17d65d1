"""The hooks as ``typing.Protocol`` classes.

Each Protocol method carries the table's exact signature (a test compares them)
and a default body, so a class that subclasses a Protocol explicitly inherits the
standard's default behaviour, and a class that merely has the methods matches it
structurally. No optional hook's body is trivial (``...`` or ``pass``): mypy treats
such Protocol members as abstract, which would make every explicit subclass
implement every hook.

The docstrings are normative. *Must*, *should* and *may* apply to the trainer
(the framework calling the hook) unless they name the user's implementation.
They say what a hook receives, may return and may rely on; *when* it runs
relative to other hooks is written once, in ``spec/ORDER.md`` (as code,
``expected_calls``), and a docstring names the section rather than restating it.
"Fit's validation" means validation run inside ``fit`` (the sanity check
included), "eval mode" means ``model.training is False``.

The big Protocols are unions of small ones (``ModelHooks`` is ``StageHooks`` plus
``BatchHooks`` plus ...), so a framework or a type checker can ask for exactly
the hooks it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional, Protocol, Union, cast

import torch
from torch import Tensor
from torch.optim import Optimizer
from typing_extensions import runtime_checkable

from loophooks.spec._table import EVAL_DATALOADERS, STEP_OUTPUT, TRAIN_DATALOADERS, OptimizerLRScheduler
from loophooks.spec._transfer import move_data_to_device

# typing's Protocol, not beartype.typing's: beartype's caches isinstance() results, but it also
# judges isinstance() structurally for *concrete* subclasses, so an unrelated model with the same
# hooks would pass isinstance(obj, UserModel). No loop asks isinstance() of a Protocol per call.

__all__ = [
    "BatchHooks",
    "BatchTransferHooks",
    "Callback",
    "CheckpointHooks",
    "ConfigureCallbacks",
    "ConfigureModelHooks",
    "ConfigureOptimizers",
    "DataHooks",
    "DataLoaderHooks",
    "DataPreparationHooks",
    "EpochHooks",
    "EvalModeHooks",
    "HookNotImplementedError",
    "ModelHooks",
    "OptimizationHooks",
    "OptimizationMethods",
    "PredictStep",
    "StageHooks",
    "TestStep",
    "TrainingStep",
    "ValidationStep",
]


class HookNotImplementedError(NotImplementedError):
    """A hook the loop needs was not implemented (a dataloader hook, say)."""


def _missing(hook: str, why: str) -> HookNotImplementedError:
    return HookNotImplementedError(f"`{hook}` must be implemented {why}.")


def _loop_model(self: object) -> torch.nn.Module:
    """The model the loop runs: ``self.trainer.model`` where a trainer is attached, else ``self``.

    A wrapper such as DistributedDataParallel is the trainer's ``model``; switching
    its mode switches the user's module inside it too.
    """
    try:
        trainer = getattr(self, "trainer", None)
    except RuntimeError:  # a base class whose ``trainer`` property raises while unattached
        trainer = None
    model = getattr(trainer, "model", None) if trainer is not None else None
    return cast(torch.nn.Module, model if model is not None else self)


# ---------------------------------------------------------------------------------------------------
# ModelHooks
# ---------------------------------------------------------------------------------------------------


@runtime_checkable
class StageHooks(Protocol):
    """The brackets around each entry point and around training inside fit."""

    def on_fit_start(self) -> None:
        """Called once at the beginning of ``fit``, on every process (when: ORDER.md, *Every entry point*).

        The optimizers exist; a checkpoint given as ``ckpt_path`` has been loaded into
        the model, but the training counters still read 0 (they are restored after
        this hook, ORDER.md *Checkpoints*). The model is in train mode.
        """
        return None

    def on_fit_end(self) -> None:
        """Called once at the very end of ``fit``, on every process, after ``on_train_end``.

        Not called when fit ends with an exception.
        """
        return None

    def on_train_start(self) -> None:
        """Called once when training begins inside ``fit``: after the sanity check, before the first epoch.

        The model is in train mode.
        """
        return None

    def on_train_end(self) -> None:
        """Called once when training ends inside ``fit``, after the last epoch's ``on_train_epoch_end``."""
        return None

    def on_validation_start(self) -> None:
        """Called at the beginning of every validation run (the sanity check and fit's validation included).

        The model is already in eval mode (``on_validation_model_eval`` has run) and
        gradients are off: ``torch.no_grad`` inside fit, ``torch.inference_mode`` in
        ``validate``.
        """
        return None

    def on_validation_end(self) -> None:
        """Called at the end of every validation run, before the model's mode is restored."""
        return None

    def on_test_start(self) -> None:
        """Called at the beginning of ``test``; the model is in eval mode under ``torch.inference_mode``."""
        return None

    def on_test_end(self) -> None:
        """Called at the end of ``test``, before the model's mode is restored."""
        return None

    def on_predict_start(self) -> None:
        """Called at the beginning of ``predict``; the model is in eval mode under ``torch.inference_mode``."""
        return None

    def on_predict_end(self) -> None:
        """Called at the end of ``predict``."""
        return None


@runtime_checkable
class BatchHooks(Protocol):
    """Before and after the step of every batch.

    ``batch`` is the batch after device transfer (``on_after_batch_transfer`` has
    run). ``dataloader_idx`` is passed to the evaluation hooks only when the stage
    has more than one dataloader; implementations must therefore give it a default.
    """

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> Optional[int]:
        """Called before anything else happens for a training batch (before ``training_step``).

        ``batch_idx`` counts batches within the epoch from 0. The implementation may
        return ``-1``: the trainer must then skip this batch and end the epoch's
        training at once. ``on_train_batch_end`` is not called for that batch, the
        epoch's remaining batches are not fetched, and the epoch ends normally
        (``on_train_epoch_end``, epoch-interval schedulers, checkpointing). Any other
        return value than ``None`` or ``-1`` is a contract violation.
        """
        return None

    def on_train_batch_end(self, outputs: STEP_OUTPUT, batch: Any, batch_idx: int) -> None:
        """Called after the training step of a batch, and after the optimizer step when one is due.

        ``outputs`` is what ``training_step`` returned, normalised to a dict whose
        ``"loss"`` is the detached loss divided by ``accumulate_grad_batches``
        (``None`` where the step returned ``None``). Not called for a batch whose
        ``on_train_batch_start`` returned ``-1``.
        """
        return None

    def on_validation_batch_start(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Called before ``validation_step`` for each validation batch; ``batch_idx`` counts per dataloader."""
        return None

    def on_validation_batch_end(
        self, outputs: STEP_OUTPUT, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        """Called after ``validation_step``, with what it returned."""
        return None

    def on_test_batch_start(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Called before ``test_step`` for each test batch; ``batch_idx`` counts per dataloader."""
        return None

    def on_test_batch_end(self, outputs: STEP_OUTPUT, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Called after ``test_step``, with what it returned."""
        return None

    def on_predict_batch_start(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Called before ``predict_step`` for each batch; ``batch_idx`` counts per dataloader."""
        return None

    def on_predict_batch_end(self, outputs: Optional[Any], batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Called after ``predict_step``, with what it returned."""
        return None


@runtime_checkable
class EvalModeHooks(Protocol):
    """How the model enters and leaves evaluation."""

    def on_validation_model_zero_grad(self) -> None:
        """Called inside ``fit`` just before each validation run that follows training, to free gradients.

        Not called before the sanity check, which runs before any gradient exists;
        called even when that validation run has no batches.

        Gradients left from training would otherwise occupy memory during
        validation. The default zeroes them, setting them to ``None``.
        """
        cast(torch.nn.Module, self).zero_grad(set_to_none=True)

    def on_validation_model_eval(self) -> None:
        """Called at the start of every validation run (ORDER.md, *Validation inside fit*); puts the model in eval mode.

        The trainer must remember each submodule's ``training`` flag before this hook
        so that it can restore exactly those flags afterwards: a submodule the user
        froze in eval mode stays in eval mode after validation (Lightning #2551).
        Override to keep some layers in train mode during validation.
        """
        _loop_model(self).eval()

    def on_validation_model_train(self) -> None:
        """Called at the end of a validation run (ORDER.md, *Validation inside fit*), only if the model overrides it.

        When it is not overridden the trainer restores each submodule's remembered
        ``training`` flag itself (Lightning #20177), which this default cannot do:
        it puts the whole model in train mode, for implementations that call
        ``super()``.
        """
        _loop_model(self).train()

    def on_test_model_eval(self) -> None:
        """Called at the start of ``test`` (ORDER.md, *validate and test*); puts the model in eval mode."""
        _loop_model(self).eval()

    def on_test_model_train(self) -> None:
        """Called at the end of ``test`` (ORDER.md, *validate and test*), only if the model overrides it.

        As ``on_validation_model_train``: otherwise the trainer restores the
        remembered flags.
        """
        _loop_model(self).train()

    def on_predict_model_eval(self) -> None:
        """Called at the start of ``predict`` (ORDER.md, *predict*); puts the model in eval mode.

        There is no ``on_predict_model_train``: the trainer restores the remembered
        flags after predicting.
        """
        _loop_model(self).eval()


@runtime_checkable
class EpochHooks(Protocol):
    """The beginning and end of every epoch of every loop."""

    def on_train_epoch_start(self) -> None:
        """Called at the very beginning of each training epoch, before its first batch is fetched."""
        return None

    def on_train_epoch_end(self) -> None:
        """Called at the very end of each training epoch, after any validation run that ends it.

        To aggregate a whole epoch's outputs, collect them on the model in
        ``training_step`` and read (then clear) them here.
        """
        return None

    def on_validation_epoch_start(self) -> None:
        """Called at the beginning of each validation run's single epoch, after ``on_validation_start``."""
        return None

    def on_validation_epoch_end(self) -> None:
        """Called at the end of each validation run's epoch, after its last batch, before ``on_validation_end``."""
        return None

    def on_test_epoch_start(self) -> None:
        """Called at the beginning of the test epoch, after ``on_test_start``."""
        return None

    def on_test_epoch_end(self) -> None:
        """Called at the end of the test epoch, before ``on_test_end``."""
        return None

    def on_predict_epoch_start(self) -> None:
        """Called at the beginning of the predict epoch, after ``on_predict_start``."""
        return None

    def on_predict_epoch_end(self) -> None:
        """Called at the end of the predict epoch, before ``on_predict_end``."""
        return None


@runtime_checkable
class OptimizationHooks(Protocol):
    """The points of an automatic optimization step where user code may look in.

    When each runs, and how often under ``accumulate_grad_batches``: ORDER.md,
    *Automatic optimisation* and *Manual optimisation*.
    """

    def on_before_zero_grad(self, optimizer: Optimizer) -> None:
        """Called before the gradients are zeroed, once for every batch that zeroes them.

        The weights seen here are those after the previous optimizer step.
        """
        return None

    def on_before_backward(self, loss: Tensor) -> None:
        """Called just before ``backward``.

        ``loss`` is a scalar tensor that requires grad: the loss ``training_step``
        returned divided by ``accumulate_grad_batches`` (Lightning #13243) and,
        under ``16-mixed`` with a gradient scaler, multiplied by the scale.
        """
        return None

    def on_after_backward(self) -> None:
        """Called just after ``backward``.

        Under ``16-mixed`` with a gradient scaler the gradients here are still scaled
        (Lightning #4151); read unscaled gradients in ``on_before_optimizer_step``.
        Under data parallelism, gradients are synchronised only in the backward of
        a batch that completes an accumulation window: on the other batches they
        are this process's own, on that batch the average over processes.
        """
        return None

    def on_before_optimizer_step(self, optimizer: Optimizer) -> None:
        """Called before the optimizer updates the parameters, once per accumulation window.

        The gradients exist and are finite for every trainable parameter that took
        part in the loss; they are accumulated over the window, unscaled (under
        AMP), averaged over processes (under data parallelism), and not yet clipped
        (Lightning #10248). The update that follows must change the parameters.
        """
        return None


@runtime_checkable
class ConfigureModelHooks(Protocol):
    """Building the model inside the trainer's context."""

    def configure_sharded_model(self) -> None:
        """Deprecated: use ``configure_model``. Called only if overridden; overriding both is an error."""
        return None

    def configure_model(self) -> None:
        """Called in every entry point, after ``setup``, only if overridden, to create layers in the right context.

        It runs inside the strategy's and precision's initialisation context, so
        layers are created on the right device with the right dtype. Since every
        entry point calls it, the implementation must be idempotent.
        """
        return None


@runtime_checkable
class ModelHooks(StageHooks, BatchHooks, EvalModeHooks, EpochHooks, OptimizationHooks, ConfigureModelHooks, Protocol):
    """The 38 model hooks of the standard (Lightning's ``ModelHooks``)."""


# ---------------------------------------------------------------------------------------------------
# DataHooks
# ---------------------------------------------------------------------------------------------------


@runtime_checkable
class DataPreparationHooks(Protocol):
    """Preparing data once, and setting up and tearing down on every process."""

    def prepare_data(self) -> None:
        """Downloads or writes data, once per node or once in total; called only if overridden.

        With ``prepare_data_per_node`` true (the default) it runs on local rank 0 of
        every node; otherwise only on global rank 0. The other processes wait at a
        barrier until it returns. It runs before ``setup`` and before distributed
        state exists, so it must not set state on the model that other processes
        need: that belongs in ``setup``.
        """
        return None

    def setup(self, stage: str) -> None:
        """Called on every process at the beginning of an entry point (ORDER.md, *Every entry point*).

        ``stage`` is ``"fit"``, ``"validate"``, ``"test"`` or ``"predict"``. A good
        place to build layers that depend on the data.
        """
        return None

    def teardown(self, stage: str) -> None:
        """Called on every process at the end of an entry point, with the same ``stage`` as ``setup``.

        Not called when the entry point ends with an exception: the trainer calls
        the callbacks' ``on_exception`` and lets the exception propagate (Lightning
        #19594). Clean-up that must happen on failure belongs in a callback's
        ``on_exception`` or in a ``try``/``finally`` around the entry point.
        """
        return None


@runtime_checkable
class DataLoaderHooks(Protocol):
    """Where each loop's data comes from.

    A hook returns a dataloader, or any iterable, or a list or dict of them
    (several loaders; ``dataloader_idx`` then numbers them). They are requested
    after ``setup``. When a datamodule overrides the hook, the datamodule's is
    used.
    """

    def train_dataloader(self) -> TRAIN_DATALOADERS:
        """The training data for ``fit``. The default raises: fit needs it unless loaders are passed in."""
        raise _missing("train_dataloader", "to fit without passing train_dataloaders")

    def test_dataloader(self) -> EVAL_DATALOADERS:
        """The test data for ``test``. The default raises."""
        raise _missing("test_dataloader", "to test without passing dataloaders")

    def val_dataloader(self) -> EVAL_DATALOADERS:
        """The validation data for ``fit``'s validation and for ``validate``. The default raises."""
        raise _missing("val_dataloader", "to validate without passing dataloaders")

    def predict_dataloader(self) -> EVAL_DATALOADERS:
        """The data for ``predict``. The default raises."""
        raise _missing("predict_dataloader", "to predict without passing dataloaders")


@runtime_checkable
class BatchTransferHooks(Protocol):
    """The three hooks every batch goes through before its batch-start hook sees it
    (their order: ORDER.md, ``transfer(batch, i)`` under *Reading the pseudocode*).

    Each must return the batch (``None`` is a contract violation). They run in
    every loop, the sanity check included; ``dataloader_idx`` is always passed
    (0 for a single loader).
    """

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        """Moves ``batch`` to ``device`` and returns it.

        The default moves tensors (and anything with ``.to``) inside any nesting of
        lists, tuples, named tuples, dicts and dataclasses. Override for other batch
        types; the implementation should only move, not change, the data.
        """
        return move_data_to_device(batch, device)

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Alters the batch on the host before it is moved; must return the batch."""
        return batch

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Alters the batch on the device after it is moved; must return the batch."""
        return batch


@runtime_checkable
class DataHooks(DataPreparationHooks, DataLoaderHooks, BatchTransferHooks, Protocol):
    """The 10 data hooks of the standard (Lightning's ``DataHooks``) and their two settings."""

    prepare_data_per_node: bool = True
    """True: ``prepare_data`` runs on local rank 0 of every node. False: only on global rank 0."""

    allow_zero_length_dataloader_with_multiple_devices: bool = False
    """True: a process may receive an empty dataloader when there are several devices."""


# ---------------------------------------------------------------------------------------------------
# CheckpointHooks
# ---------------------------------------------------------------------------------------------------


@runtime_checkable
class CheckpointHooks(Protocol):
    """Adding to a checkpoint and reading it back."""

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Called when a checkpoint given as ``ckpt_path`` is restored, with the loaded dict.

        When, and why the model hears it before the callbacks: ORDER.md,
        *Checkpoints*. The model's weights are not yet loaded from
        ``checkpoint["state_dict"]``; the trainer restores epoch, step, optimizer,
        scheduler and scaler state itself, later (Lightning #7535).
        """
        return None

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Called when a checkpoint is about to be written, with the complete dict; may add keys.

        When: ORDER.md, *Checkpoints*. The dict already holds
        ``epoch``, ``global_step``, ``state_dict``, ``loops``, ``optimizer_states``,
        ``lr_schedulers`` and ``callbacks``.
        """
        return None


# ---------------------------------------------------------------------------------------------------
# What a loop calls that Lightning keeps on LightningModule
# ---------------------------------------------------------------------------------------------------


@runtime_checkable
class TrainingStep(Protocol):
    """What ``fit`` requires of a model."""

    def training_step(self, batch: Any, batch_idx: int) -> STEP_OUTPUT:
        """Computes one training batch's loss.

        Under automatic optimization it returns the loss (a scalar tensor that
        requires grad), a dict with a ``"loss"`` entry, or ``None`` to skip the
        batch's backward and step. Called with grad enabled and the model in train
        mode, inside autocast under mixed precision.
        """
        ...


@runtime_checkable
class ValidationStep(Protocol):
    """What validation requires of a model."""

    def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> STEP_OUTPUT:
        """Evaluates one validation batch; ``dataloader_idx`` is passed only with several loaders."""
        ...


@runtime_checkable
class TestStep(Protocol):
    """What ``test`` requires of a model."""

    def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> STEP_OUTPUT:
        """Evaluates one test batch; ``dataloader_idx`` is passed only with several loaders."""
        ...


@runtime_checkable
class PredictStep(Protocol):
    """What ``predict`` requires of a model."""

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Any:
        """Predicts one batch; what it returns is collected when ``return_predictions`` is on."""
        ...


@runtime_checkable
class ConfigureOptimizers(Protocol):
    """What ``fit`` requires of a model besides ``training_step``."""

    def configure_optimizers(self) -> OptimizerLRScheduler:
        """Returns the optimizers and schedulers, called once per ``fit`` after ``configure_model``.

        It runs before ``on_fit_start`` (Lightning #16170). The accepted forms: an
        optimizer; a list or tuple of optimizers; two lists (optimizers,
        schedulers); a dict ``{"optimizer": ..., "lr_scheduler": ...}`` whose
        scheduler may be a dict with ``"scheduler"``, ``"interval"``
        (``"epoch"`` or ``"step"``), ``"frequency"`` and ``"monitor"``; a list of such
        dicts; or ``None`` (no optimization, with a warning).
        """
        ...


@runtime_checkable
class ConfigureCallbacks(Protocol):
    """Model-specific callbacks."""

    def configure_callbacks(self) -> Any:
        """Returns a callback or a list of callbacks added to the trainer's when the model is attached.

        A returned callback replaces the trainer's callbacks of the same type.
        """
        return []


@runtime_checkable
class OptimizationMethods(Protocol):
    """The steps of automatic optimization, each overridable.

    Their order is ORDER.md's *Automatic optimisation*: in a batch that steps, the
    trainer calls ``optimizer_step`` with a closure, and ``training_step``, the
    zeroing, the backward hooks, ``on_before_optimizer_step`` and
    ``configure_gradient_clipping`` all run inside that call, before the
    parameters are updated; a batch that only accumulates runs the closure's part
    on its own. (``expected_calls`` is the same order as code.)
    """

    def backward(self, loss: Tensor) -> None:
        """Computes gradients of ``loss`` (already divided for accumulation and scaled under AMP)."""
        cast(Any, loss).backward()  # torch leaves Tensor.backward untyped

    def optimizer_step(
        self,
        epoch: int,
        batch_idx: int,
        optimizer: Optimizer,
        optimizer_closure: Optional[Callable[[], Any]] = None,
    ) -> None:
        """Steps ``optimizer`` once an accumulation window is complete.

        Where the trainer passes a closure, the closure runs the training step and
        backward and must be passed to ``optimizer.step`` (LBFGS calls it several
        times).
        """
        optimizer.step(closure=optimizer_closure)

    def optimizer_zero_grad(self, epoch: int, batch_idx: int, optimizer: Optimizer) -> None:
        """Zeroes ``optimizer``'s gradients, once per accumulation window (ORDER.md, *Automatic optimisation*)."""
        optimizer.zero_grad()

    def lr_scheduler_step(self, scheduler: Any, metric: Optional[Any]) -> None:
        """Steps one scheduler at its interval; ``metric`` is the monitored value for plateau schedulers."""
        if metric is None:
            scheduler.step()
        else:
            scheduler.step(metric)

    def configure_gradient_clipping(
        self,
        optimizer: Optimizer,
        gradient_clip_val: Optional[Union[int, float]] = None,
        gradient_clip_algorithm: Optional[str] = None,
    ) -> None:
        """Clips the gradients of ``optimizer``'s parameters before the update.

        Called at every optimizer step, with the trainer's ``gradient_clip_val``
        and ``gradient_clip_algorithm`` (``"norm"``, the default, or ``"value"``);
        it does nothing when ``gradient_clip_val`` is ``None`` or 0.
        """
        clip_gradients_of(optimizer, gradient_clip_val, gradient_clip_algorithm)


def clip_gradients_of(
    optimizer: Any, gradient_clip_val: Optional[Union[int, float]], gradient_clip_algorithm: Optional[str]
) -> None:
    """Clip the gradients of ``optimizer``'s parameters: by ``"value"``, else by norm; nothing for None or 0.

    The one implementation: the default ``configure_gradient_clipping`` and the
    engine's ``clip_gradients`` both come here.
    """
    if not gradient_clip_val:
        return
    params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if gradient_clip_algorithm == "value":
        torch.nn.utils.clip_grad_value_(params, float(gradient_clip_val))
    else:
        torch.nn.utils.clip_grad_norm_(params, float(gradient_clip_val))


# ---------------------------------------------------------------------------------------------------
# Callback
# ---------------------------------------------------------------------------------------------------


@runtime_checkable
class Callback(Protocol):
    """The hooks of a callback.

    Who hears an event first (callbacks before the model, with one exception) and
    the callbacks' own order: ORDER.md, *Reading the pseudocode* and *Every entry
    point*. ``trainer`` is the trainer, ``pl_module`` the user's model (the name is
    Lightning's).
    """

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        """At the beginning of every entry point (ORDER.md, *Every entry point*)."""
        return None

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        """At the end of every entry point that did not raise (ORDER.md, *Every entry point*)."""
        return None

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        """See ``ModelHooks.on_fit_start``."""
        return None

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        """See ``ModelHooks.on_fit_end``."""
        return None

    def on_sanity_check_start(self, trainer: Any, pl_module: Any) -> None:
        """Before the sanity check's validation run (callbacks only)."""
        return None

    def on_sanity_check_end(self, trainer: Any, pl_module: Any) -> None:
        """After the sanity check's validation run (callbacks only)."""
        return None

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        """See ``ModelHooks.on_train_batch_start``; a callback cannot skip the epoch."""
        return None

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: STEP_OUTPUT, batch: Any, batch_idx: int
    ) -> None:
        """See ``ModelHooks.on_train_batch_end``."""
        return None

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        """See ``ModelHooks.on_train_epoch_start``."""
        return None

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        """See ``ModelHooks.on_train_epoch_end``."""
        return None

    def on_validation_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        """See ``ModelHooks.on_validation_epoch_start``."""
        return None

    def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        """See ``ModelHooks.on_validation_epoch_end``."""
        return None

    def on_test_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        """See ``ModelHooks.on_test_epoch_start``."""
        return None

    def on_test_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        """See ``ModelHooks.on_test_epoch_end``."""
        return None

    def on_predict_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        """See ``ModelHooks.on_predict_epoch_start``."""
        return None

    def on_predict_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        """See ``ModelHooks.on_predict_epoch_end``."""
        return None

    def on_validation_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        """See ``ModelHooks.on_validation_batch_start``."""
        return None

    def on_validation_batch_end(
        self,
        trainer: Any,
        pl_module: Any,
        outputs: STEP_OUTPUT,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """See ``ModelHooks.on_validation_batch_end``."""
        return None

    def on_test_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        """See ``ModelHooks.on_test_batch_start``."""
        return None

    def on_test_batch_end(
        self,
        trainer: Any,
        pl_module: Any,
        outputs: STEP_OUTPUT,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """See ``ModelHooks.on_test_batch_end``."""
        return None

    def on_predict_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        """See ``ModelHooks.on_predict_batch_start``."""
        return None

    def on_predict_batch_end(
        self,
        trainer: Any,
        pl_module: Any,
        outputs: Optional[Any],
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """See ``ModelHooks.on_predict_batch_end``."""
        return None

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        """See ``ModelHooks.on_train_start``."""
        return None

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        """See ``ModelHooks.on_train_end``."""
        return None

    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        """See ``ModelHooks.on_validation_start``."""
        return None

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        """See ``ModelHooks.on_validation_end``."""
        return None

    def on_test_start(self, trainer: Any, pl_module: Any) -> None:
        """See ``ModelHooks.on_test_start``."""
        return None

    def on_test_end(self, trainer: Any, pl_module: Any) -> None:
        """See ``ModelHooks.on_test_end``."""
        return None

    def on_predict_start(self, trainer: Any, pl_module: Any) -> None:
        """See ``ModelHooks.on_predict_start``."""
        return None

    def on_predict_end(self, trainer: Any, pl_module: Any) -> None:
        """See ``ModelHooks.on_predict_end``."""
        return None

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        """When an entry point is interrupted by ``exception``; nothing else runs after it, ``teardown``
        included, and the exception then propagates (ORDER.md, *Exceptions*)."""
        return None

    def state_dict(self) -> dict[str, Any]:
        """The callback's state, saved under ``checkpoint["callbacks"]``; ``{}`` saves nothing."""
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores what ``state_dict`` returned, when a checkpoint is loaded."""
        return None

    def on_save_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        """See ``CheckpointHooks.on_save_checkpoint``; runs before the model's."""
        return None

    def on_load_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        """See ``CheckpointHooks.on_load_checkpoint``; runs after the model's."""
        return None

    def on_before_backward(self, trainer: Any, pl_module: Any, loss: Tensor) -> None:
        """See ``ModelHooks.on_before_backward``."""
        return None

    def on_after_backward(self, trainer: Any, pl_module: Any) -> None:
        """See ``ModelHooks.on_after_backward``."""
        return None

    def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Optimizer) -> None:
        """See ``ModelHooks.on_before_optimizer_step``."""
        return None

    def on_before_zero_grad(self, trainer: Any, pl_module: Any, optimizer: Optimizer) -> None:
        """See ``ModelHooks.on_before_zero_grad``."""
        return None
