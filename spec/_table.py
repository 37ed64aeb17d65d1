"""The hook table: every hook of the standard, once.

This table is the single source of truth. The Protocols in ``_protocols.py`` are
checked against it by a test; the runtime checks (``_checks.py``), the
registration checks (``_signatures.py``), the engine's dispatcher, the
conformance recorder and the ``.pyi`` stubs are all built from it.

Each :class:`Hook` says what the hook receives and returns, which entry points
(stages) may call it, whether the loop calls it only when the user overrides it,
and what its ``Callback`` counterpart receives after ``(trainer, pl_module)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from types import MappingProxyType
from typing import Any, ClassVar, Final, Literal, Optional, Union

import torch
from beartype.vale import Is
from torch import Tensor
from torch.optim import Optimizer
from typing_extensions import Annotated, final

from loophooks.spec._optimizer_config import OPTIMIZER_FORMS_AT_RUNTIME, OptimizerLRScheduler
from loophooks.spec._scenario import Stage

__all__ = [
    "ALL_STAGES",
    "CALLBACK_HOOKS",
    "CALLERS",
    "Caller",
    "DATAMODULE_HOOKS",
    "EVAL_DATALOADERS",
    "TRAIN_DATALOADERS",
    "OptimizerLRScheduler",
    "HOOKS",
    "Passed",
    "SEED_HOOKS",
    "STEP_OUTPUT",
    "EVERY_HOOK",
    "Group",
    "Hook",
    "Param",
]

Group = Literal["model", "data", "checkpoint", "step", "optimization"]
"""Which part of the standard a hook belongs to.

``model``, ``data`` and ``checkpoint`` are Lightning's ``ModelHooks``,
``DataHooks`` and ``CheckpointHooks``; ``step`` and ``optimization`` are the
methods a loop calls that Lightning keeps on ``LightningModule``.
"""

STEP_OUTPUT = Union[Tensor, Mapping[str, Any], None]
"""What a training/validation/test step returns: a loss, a dict with ``"loss"``, or nothing."""

TRAIN_DATALOADERS = Iterable[Any]
"""What ``train_dataloader`` returns: a DataLoader, any iterable, or a list or dict of them."""

EVAL_DATALOADERS = Iterable[Any]
"""What the evaluation dataloader hooks return: an iterable, or a list or dict of them (several loaders)."""

ALL_STAGES: Final[frozenset[Stage]] = frozenset({"fit", "validate", "test", "predict"})

Caller = Literal["datamodule", "callbacks", "module", "monitoring_callbacks", "datamodule_or_module"]
"""Who hears one event of a hook; :attr:`Hook.callers` lists them in the order they hear it.

``module``: the user's model (the LightningModule). ``datamodule``: the datamodule,
when the run has one. ``callbacks``: every callback of the trainer, in list order;
where ``monitoring_callbacks`` is listed too, only the ordinary ones.
``monitoring_callbacks``: the callbacks that monitor a logged value (checkpointing,
early stopping), which must see what the model logged in the same hook.
``datamodule_or_module``: the datamodule when it has one that overrides the hook,
else the model; one of them, never both (the dataloader and batch-transfer hooks).
"""


class _Empty:
    """Marker for a parameter without a default."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<required>"


_REQUIRED: Final = _Empty()


Passed = Literal["always", "several_loaders", "if_declared"]
"""When the loop passes a parameter.

``always``: on every call. ``several_loaders``: only when the stage has more than
one dataloader (``dataloader_idx`` of the evaluation hooks and steps); an
implementation may leave it out, or declare it with a default. ``if_declared``:
only when the implementation declares it (a step's ``batch_idx``: Lightning passes
it when the step takes a second positional parameter, or ``*args``).

The static signatures (the Protocols' stubs) follow from this: a ``several_loaders``
parameter is left out, so an override with or without it is compatible; from an
``if_declared`` parameter on, the signature ends in ``*args: Any, **kwargs: Any``,
the only form both ``(self, batch)`` and ``(self, batch, batch_idx)`` override.
"""


@final
@dataclass(frozen=True)
class Param:
    """One parameter of a hook: its name, its annotation, its default if any, and when the loop passes it."""

    name: str
    annotation: Any
    default: Any = _REQUIRED
    passed: Passed = "always"

    empty: ClassVar[Any] = _REQUIRED
    """The ``default`` of a parameter that has none."""

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED

    @property
    def omittable(self) -> bool:
        """Whether an implementation may leave this parameter out (it is not passed on every call)."""
        return self.passed != "always"


@final
@dataclass(frozen=True)
class Hook:
    """One entry of the table.

    ``returns`` is the annotation of the Protocol method; ``contract`` is what
    the runtime checks demand of the returned value, which may be narrower
    (``on_train_batch_start`` is annotated ``Optional[int]`` but only ``None``
    and ``-1`` mean anything). ``callback`` is the parameter list of the
    ``Callback`` counterpart after ``(trainer, pl_module)``; ``None`` where
    callbacks have no such hook.

    Facts about one event of the hook, the same in every table that has it:
    ``callers`` is who hears it, in order (:data:`Caller`): callbacks before the
    model as a rule, with Lightning's exceptions written here and nowhere else.
    ``state_free``: the spec leaves the model's mode and the autograd state free
    around this hook (it runs around the loops, where a trainer may switch them
    earlier or later). ``closes``: the start hook this end hook closes, for hooks
    that nest like parentheses. ``host_batch``: the hook receives the batch before
    it is moved to the device.
    """

    name: str
    group: Group
    params: tuple[Param, ...] = ()
    returns: Any = None
    stages: frozenset[Stage] = ALL_STAGES
    override_only: bool = False
    callback: tuple[Param, ...] | None = None
    summary: str = ""
    contract: Any = None
    datamodule: bool = False
    callers: tuple[Caller, ...] = ("module",)
    state_free: bool = False
    closes: Optional[str] = None
    host_batch: bool = False

    @cached_property
    def return_contract(self) -> Any:
        return self.returns if self.contract is None else self.contract

    @cached_property
    def param_names(self) -> tuple[str, ...]:
        # Cached: the dispatcher reads it on every checked call.
        return tuple(p.name for p in self.params)


# Parameters used by many hooks.
_BATCH = Param("batch", Any)
_BATCH_IDX = Param("batch_idx", int)
_LOADER_IDX = Param("dataloader_idx", int, 0, passed="several_loaders")
_STEP_BATCH_IDX = Param("batch_idx", int, passed="if_declared")
_LOADER_IDX_REQ = Param("dataloader_idx", int)
_OUTPUTS = Param("outputs", STEP_OUTPUT)
_OPTIMIZER = Param("optimizer", Optimizer)
_STAGE = Param("stage", str)
_CHECKPOINT = Param("checkpoint", dict[str, Any])

_FIT: frozenset[Stage] = frozenset({"fit"})
_VAL: frozenset[Stage] = frozenset({"fit", "validate"})
_TEST: frozenset[Stage] = frozenset({"test"})
_PREDICT: frozenset[Stage] = frozenset({"predict"})

# A batch hook must hand a batch on: returning nothing is always a mistake.
_A_BATCH = Annotated[object, Is[lambda value: value is not None]]


_CALLBACKS_FIRST: Final[tuple[Caller, ...]] = ("callbacks", "module")
"""The rule for a hook both callbacks and the model have: callbacks first, then the model."""


def _plain(
    name: str,
    group: Group,
    stages: frozenset[Stage],
    summary: str,
    *,
    callback: bool = True,
    state_free: bool = False,
    closes: Optional[str] = None,
) -> Hook:
    """A hook that takes nothing and returns nothing (most of ``ModelHooks``)."""
    return Hook(
        name,
        group,
        stages=stages,
        callback=() if callback else None,
        summary=summary,
        callers=_CALLBACKS_FIRST if callback else ("module",),
        state_free=state_free,
        closes=closes,
    )


def _batch_start(stage: str, stages: frozenset[Stage], *, with_loader: bool) -> Hook:
    params = (_BATCH, _BATCH_IDX, _LOADER_IDX) if with_loader else (_BATCH, _BATCH_IDX)
    return Hook(
        f"on_{stage}_batch_start",
        "model",
        params,
        stages=stages,
        callback=params,
        summary=f"Before anything else happens for a {stage} batch.",
        callers=_CALLBACKS_FIRST,
    )


def _batch_end(stage: str, stages: frozenset[Stage], outputs: Param, *, with_loader: bool) -> Hook:
    params = (outputs, _BATCH, _BATCH_IDX, _LOADER_IDX) if with_loader else (outputs, _BATCH, _BATCH_IDX)
    return Hook(
        f"on_{stage}_batch_end",
        "model",
        params,
        stages=stages,
        callback=params,
        summary=f"After the {stage} step of a batch, with what the step returned.",
        callers=_CALLBACKS_FIRST,
    )


def _table() -> tuple[Hook, ...]:
    train_batch_start = Hook(
        "on_train_batch_start",
        "model",
        (_BATCH, _BATCH_IDX),
        returns=Optional[int],
        contract=Optional[Literal[-1]],
        stages=_FIT,
        callback=(_BATCH, _BATCH_IDX),
        summary="Before anything else happens for a training batch; -1 skips the rest of the epoch.",
        callers=_CALLBACKS_FIRST,
    )
    return (
        # --- ModelHooks: stage brackets ---------------------------------------------------------
        _plain("on_fit_start", "model", _FIT, "At the very beginning of fit, on every process.", state_free=True),
        _plain(
            "on_fit_end",
            "model",
            _FIT,
            "At the very end of fit, on every process.",
            state_free=True,
            closes="on_fit_start",
        ),
        _plain(
            "on_train_start", "model", _FIT, "At the beginning of training, after the sanity check.", state_free=True
        ),
        _plain("on_train_end", "model", _FIT, "At the end of training.", state_free=True, closes="on_train_start"),
        _plain("on_validation_start", "model", _VAL, "At the beginning of a validation run."),
        _plain("on_validation_end", "model", _VAL, "At the end of a validation run.", closes="on_validation_start"),
        _plain("on_test_start", "model", _TEST, "At the beginning of testing."),
        _plain("on_test_end", "model", _TEST, "At the end of testing.", closes="on_test_start"),
        _plain("on_predict_start", "model", _PREDICT, "At the beginning of predicting."),
        _plain("on_predict_end", "model", _PREDICT, "At the end of predicting.", closes="on_predict_start"),
        # --- ModelHooks: batches ------------------------------------------------------------------
        train_batch_start,
        _batch_end("train", _FIT, _OUTPUTS, with_loader=False),
        _batch_start("validation", _VAL, with_loader=True),
        _batch_end("validation", _VAL, _OUTPUTS, with_loader=True),
        _batch_start("test", _TEST, with_loader=True),
        _batch_end("test", _TEST, _OUTPUTS, with_loader=True),
        _batch_start("predict", _PREDICT, with_loader=True),
        _batch_end("predict", _PREDICT, Param("outputs", Optional[Any]), with_loader=True),
        # --- ModelHooks: the model's mode around evaluation ---------------------------------------
        _plain(
            "on_validation_model_zero_grad",
            "model",
            _FIT,
            "Before validation inside fit, to release the gradients.",
            callback=False,
            state_free=True,
        ),
        _plain(
            "on_validation_model_eval",
            "model",
            _VAL,
            "Puts the model in eval mode for validation.",
            callback=False,
            state_free=True,
        ),
        Hook(
            "on_validation_model_train",
            "model",
            stages=_VAL,
            override_only=True,
            summary="Restores the model's mode after validation; called only when overridden.",
            state_free=True,
        ),
        _plain(
            "on_test_model_eval",
            "model",
            _TEST,
            "Puts the model in eval mode for testing.",
            callback=False,
            state_free=True,
        ),
        Hook(
            "on_test_model_train",
            "model",
            stages=_TEST,
            override_only=True,
            summary="Restores the model's mode after testing; called only when overridden.",
            state_free=True,
        ),
        _plain(
            "on_predict_model_eval",
            "model",
            _PREDICT,
            "Puts the model in eval mode for predicting.",
            callback=False,
            state_free=True,
        ),
        # --- ModelHooks: epochs -------------------------------------------------------------------
        _plain("on_train_epoch_start", "model", _FIT, "At the very beginning of a training epoch."),
        Hook(
            "on_train_epoch_end",
            "model",
            stages=_FIT,
            callback=(),
            summary="At the very end of a training epoch.",
            # monitoring callbacks last, so they see what the model logged here (Lightning's exception)
            callers=("callbacks", "module", "monitoring_callbacks"),
            closes="on_train_epoch_start",
        ),
        _plain("on_validation_epoch_start", "model", _VAL, "At the beginning of a validation run's epoch."),
        _plain(
            "on_validation_epoch_end",
            "model",
            _VAL,
            "At the end of a validation run's epoch.",
            closes="on_validation_epoch_start",
        ),
        _plain("on_test_epoch_start", "model", _TEST, "At the beginning of the test epoch."),
        _plain("on_test_epoch_end", "model", _TEST, "At the end of the test epoch.", closes="on_test_epoch_start"),
        _plain("on_predict_epoch_start", "model", _PREDICT, "At the beginning of the predict epoch."),
        _plain(
            "on_predict_epoch_end",
            "model",
            _PREDICT,
            "At the end of the predict epoch.",
            closes="on_predict_epoch_start",
        ),
        # --- ModelHooks: optimization -------------------------------------------------------------
        Hook(
            "on_before_zero_grad",
            "model",
            (_OPTIMIZER,),
            stages=_FIT,
            callback=(_OPTIMIZER,),
            summary="Before the optimizer's gradients are zeroed.",
            callers=_CALLBACKS_FIRST,
        ),
        Hook(
            "on_before_backward",
            "model",
            (Param("loss", Tensor),),
            stages=_FIT,
            callback=(Param("loss", Tensor),),
            summary="Before backward, with the loss divided for accumulation (and scaled under AMP).",
            callers=_CALLBACKS_FIRST,
        ),
        _plain("on_after_backward", "model", _FIT, "After backward, before the optimizer steps."),
        Hook(
            "on_before_optimizer_step",
            "model",
            (_OPTIMIZER,),
            stages=_FIT,
            callback=(_OPTIMIZER,),
            summary="Before the optimizer steps, with unscaled, unclipped, accumulated gradients.",
            callers=_CALLBACKS_FIRST,
        ),
        Hook(
            "configure_sharded_model",
            "model",
            override_only=True,
            summary="Deprecated form of configure_model; called only when overridden.",
            state_free=True,
        ),
        Hook(
            "configure_model",
            "model",
            override_only=True,
            summary="Creates modules inside the strategy's context; must be idempotent.",
            state_free=True,
        ),
        # --- DataHooks -----------------------------------------------------------------------------
        Hook(
            "prepare_data",
            "data",
            override_only=True,
            datamodule=True,
            summary="Downloads and prepares data, on one process per node (or one in total).",
            callers=("datamodule", "module"),
            state_free=True,
        ),
        Hook(
            "setup",
            "data",
            (_STAGE,),
            callback=(_STAGE,),
            datamodule=True,
            summary="At the beginning of fit, validate, test or predict, on every process.",
            callers=("datamodule", "callbacks", "module"),
            state_free=True,
        ),
        Hook(
            "teardown",
            "data",
            (_STAGE,),
            callback=(_STAGE,),
            datamodule=True,
            summary="At the end of fit, validate, test or predict.",
            callers=("datamodule", "callbacks", "module"),
            state_free=True,
        ),
        Hook(
            "train_dataloader",
            "data",
            returns=TRAIN_DATALOADERS,
            stages=_FIT,
            datamodule=True,
            summary="The training data.",
            callers=("datamodule_or_module",),
            state_free=True,
        ),
        Hook(
            "test_dataloader",
            "data",
            returns=EVAL_DATALOADERS,
            stages=_TEST,
            datamodule=True,
            summary="The test data.",
            callers=("datamodule_or_module",),
            state_free=True,
        ),
        Hook(
            "val_dataloader",
            "data",
            returns=EVAL_DATALOADERS,
            stages=_VAL,
            datamodule=True,
            summary="The validation data.",
            callers=("datamodule_or_module",),
            state_free=True,
        ),
        Hook(
            "predict_dataloader",
            "data",
            returns=EVAL_DATALOADERS,
            stages=_PREDICT,
            datamodule=True,
            summary="The data to predict.",
            callers=("datamodule_or_module",),
            state_free=True,
        ),
        Hook(
            "transfer_batch_to_device",
            "data",
            (_BATCH, Param("device", torch.device), _LOADER_IDX_REQ),
            returns=Any,
            contract=_A_BATCH,
            datamodule=True,
            summary="Moves a batch to the device; override for custom batch types.",
            callers=("datamodule_or_module",),
            host_batch=True,
        ),
        Hook(
            "on_before_batch_transfer",
            "data",
            (_BATCH, _LOADER_IDX_REQ),
            returns=Any,
            contract=_A_BATCH,
            datamodule=True,
            summary="Alters a batch before it is moved to the device; must return the batch.",
            callers=("datamodule_or_module",),
            host_batch=True,
        ),
        Hook(
            "on_after_batch_transfer",
            "data",
            (_BATCH, _LOADER_IDX_REQ),
            returns=Any,
            contract=_A_BATCH,
            datamodule=True,
            summary="Alters a batch after it is moved to the device; must return the batch.",
            callers=("datamodule_or_module",),
        ),
        # --- CheckpointHooks -----------------------------------------------------------------------
        Hook(
            "on_load_checkpoint",
            "checkpoint",
            (_CHECKPOINT,),
            callback=(_CHECKPOINT,),
            datamodule=True,
            summary="Restores what on_save_checkpoint added, from a loaded checkpoint.",
            # the model restores first, then the callbacks (Lightning's exception, #7535)
            callers=("module", "callbacks"),
            state_free=True,
        ),
        Hook(
            "on_save_checkpoint",
            "checkpoint",
            (_CHECKPOINT,),
            callback=(_CHECKPOINT,),
            datamodule=True,
            summary="Adds to the checkpoint dict before it is written.",
            callers=_CALLBACKS_FIRST,
            state_free=True,
        ),
        # --- What a loop calls that Lightning keeps on LightningModule ----------------------------
        Hook(
            "training_step",
            "step",
            (_BATCH, _STEP_BATCH_IDX),
            returns=STEP_OUTPUT,
            stages=_FIT,
            summary="Computes the loss of one training batch.",
        ),
        Hook(
            "validation_step",
            "step",
            (_BATCH, _STEP_BATCH_IDX, _LOADER_IDX),
            returns=STEP_OUTPUT,
            stages=_VAL,
            summary="Evaluates one validation batch.",
        ),
        Hook(
            "test_step",
            "step",
            (_BATCH, _STEP_BATCH_IDX, _LOADER_IDX),
            returns=STEP_OUTPUT,
            stages=_TEST,
            summary="Evaluates one test batch.",
        ),
        Hook(
            "predict_step",
            "step",
            (_BATCH, _STEP_BATCH_IDX, _LOADER_IDX),
            returns=Any,
            stages=_PREDICT,
            summary="Predicts one batch.",
        ),
        Hook(
            "configure_optimizers",
            "optimization",
            returns=OptimizerLRScheduler,
            contract=OPTIMIZER_FORMS_AT_RUNTIME,
            stages=_FIT,
            summary="The optimizers and learning-rate schedulers, in one of the documented forms.",
            state_free=True,
        ),
        Hook(
            "configure_callbacks",
            "optimization",
            returns=Any,
            summary="Callbacks the model adds to the Trainer's.",
            state_free=True,
        ),
        Hook(
            "backward",
            "optimization",
            (Param("loss", Tensor),),
            stages=_FIT,
            summary="Runs backward on the (divided, scaled) loss.",
        ),
        Hook(
            "optimizer_step",
            "optimization",
            (
                Param("epoch", int),
                _BATCH_IDX,
                _OPTIMIZER,
                Param("optimizer_closure", Optional[Callable[[], Any]], None),
            ),
            stages=_FIT,
            summary="Steps the optimizer, running the closure (step, backward) where there is one.",
        ),
        Hook(
            "optimizer_zero_grad",
            "optimization",
            (Param("epoch", int), _BATCH_IDX, _OPTIMIZER),
            stages=_FIT,
            summary="Zeroes the optimizer's gradients.",
        ),
        Hook(
            "lr_scheduler_step",
            "optimization",
            (Param("scheduler", Any), Param("metric", Optional[Any])),
            stages=_FIT,
            summary="Steps one learning-rate scheduler at its interval.",
        ),
        Hook(
            "configure_gradient_clipping",
            "optimization",
            (
                _OPTIMIZER,
                Param("gradient_clip_val", Optional[Union[int, float]], None),
                Param("gradient_clip_algorithm", Optional[str], None),
            ),
            stages=_FIT,
            summary="Clips the gradients before the optimizer steps.",
        ),
    )


# The hooks callbacks and the datamodule have and the model does not: the same event in both tables.
_EXCEPTION_CALLERS: Final[tuple[Caller, ...]] = ("callbacks", "datamodule")
_STATE_DICT_CALLERS: Final[tuple[Caller, ...]] = ("callbacks", "datamodule")  # when a checkpoint is saved
_LOAD_STATE_DICT_CALLERS: Final[tuple[Caller, ...]] = ("datamodule", "callbacks")  # when one is restored


def _callback_table(hooks: Sequence[Hook]) -> tuple[Hook, ...]:
    """Callback hooks: the module hooks that have a counterpart, plus those only callbacks have."""
    trainer_module = (Param("trainer", Any), Param("pl_module", Any))
    mirrored = tuple(
        replace(h, params=trainer_module + h.callback, returns=None, contract=None, callback=None, datamodule=False)
        for h in hooks
        if h.callback is not None
    )
    own = (
        Hook(
            "on_sanity_check_start",
            "model",
            trainer_module,
            stages=_FIT,
            summary="Before the sanity check.",
            callers=("callbacks",),
            state_free=True,
        ),
        Hook(
            "on_sanity_check_end",
            "model",
            trainer_module,
            stages=_FIT,
            summary="After the sanity check.",
            callers=("callbacks",),
            state_free=True,
            closes="on_sanity_check_start",
        ),
        Hook(
            "on_exception",
            "model",
            trainer_module + (Param("exception", BaseException),),
            summary="When a run is interrupted by an exception.",
            callers=_EXCEPTION_CALLERS,
            state_free=True,
        ),
        Hook(
            "state_dict",
            "checkpoint",
            returns=dict[str, Any],
            summary="The callback's state for the checkpoint.",
            callers=_STATE_DICT_CALLERS,
            state_free=True,
        ),
        Hook(
            "load_state_dict",
            "checkpoint",
            (Param("state_dict", dict[str, Any]),),
            summary="Restores the callback's state from a checkpoint.",
            callers=_LOAD_STATE_DICT_CALLERS,
            state_free=True,
        ),
    )
    return mirrored + own


_HOOKS = _table()

HOOKS: Final[Mapping[str, Hook]] = MappingProxyType({h.name: h for h in _HOOKS})
"""Every hook and loop-called method of a model (or datamodule), by name, in table order."""

CALLBACK_HOOKS: Final[Mapping[str, Hook]] = MappingProxyType({h.name: h for h in _callback_table(_HOOKS)})
"""Every hook of a ``Callback``, by name; parameters include ``trainer`` and ``pl_module``."""

SEED_HOOKS: Final[frozenset[str]] = frozenset(h.name for h in _HOOKS if h.group in ("model", "data", "checkpoint"))
"""The 50 hooks of Lightning's ``ModelHooks``, ``DataHooks`` and ``CheckpointHooks``."""


def _datamodule_table(hooks: Sequence[Hook]) -> tuple[Hook, ...]:
    """Datamodule hooks: the data and checkpoint hooks a datamodule may override, plus its own three."""
    own = (
        Hook(
            "state_dict",
            "checkpoint",
            returns=dict[str, Any],
            summary="The datamodule's state, saved in the checkpoint under its class name.",
            callers=_STATE_DICT_CALLERS,
            state_free=True,
        ),
        Hook(
            "load_state_dict",
            "checkpoint",
            (Param("state_dict", dict[str, Any]),),
            summary="Restores what state_dict returned, when a checkpoint is loaded.",
            callers=_LOAD_STATE_DICT_CALLERS,
            state_free=True,
        ),
        Hook(
            "on_exception",
            "data",
            (Param("exception", BaseException),),
            summary="When an entry point is interrupted by an exception, after the callbacks' on_exception.",
            callers=_EXCEPTION_CALLERS,
            state_free=True,
        ),
    )
    return tuple(h for h in hooks if h.datamodule) + own


DATAMODULE_HOOKS: Final[Mapping[str, Hook]] = MappingProxyType({h.name: h for h in _datamodule_table(_HOOKS)})
"""Every hook of a datamodule, by name: the table's hooks marked ``datamodule`` and the datamodule's own."""


def _every_hook() -> dict[str, Hook]:
    every: dict[str, Hook] = {}
    for table in (HOOKS, CALLBACK_HOOKS, DATAMODULE_HOOKS):
        for name, hook in table.items():
            every.setdefault(name, hook)
    return every


EVERY_HOOK: Final[Mapping[str, Hook]] = MappingProxyType(_every_hook())
"""One entry per hook name of the three tables (the model's where it has one). The facts about one
event (``callers``, ``state_free``, ``closes``, ``host_batch``) agree between tables; a test checks."""

CALLERS: Final[Mapping[str, tuple[Caller, ...]]] = MappingProxyType(
    {name: hook.callers for name, hook in EVERY_HOOK.items()}
)
"""Who hears each hook, in the order they hear it (:attr:`Hook.callers`), by hook name."""
