"""The hook table: every hook of the standard, once.

This table is the single source of truth. Everything else about a hook is built
from it: the Protocols (``_protocols.py``) and their stubs are generated from it by
``scripts/gen_stubs.py`` (checked in; ``--check`` and a test fail while they are
stale), and the runtime checks (``_checks.py``), the registration checks and
error messages (``_signatures.py``), the call order's writer (``_order.py``), the
core rules (``_rules.py``), the engine's dispatcher and the conformance recorder
read it. A signature, docstring or default changes here and nowhere else.

Each :class:`Hook` says what the hook receives and returns, which entry points
(stages) may call it, whether the loop calls it only when the user overrides it,
what its ``Callback`` counterpart receives after ``(trainer, pl_module)``, who
hears one event of it and in what order, and what its Protocol method says and
does by default. :data:`PROTOCOL_CLASSES` groups the hooks into Protocols.
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

from loophooks.spec._log_levels import LOG_EPOCH, LOG_EVAL_STEP, LOG_STEP, REFUSED, LogRule
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
    "PROTOCOL_CLASSES",
    "Attribute",
    "ProtocolClass",
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
    it is moved to the device. ``hands_on``: the hook hands on the batch it receives
    (its first parameter): it must return a batch, and may return ``None`` only when it
    was given ``None`` (a loader may yield ``None``; Lightning passes it through).

    What the generated Protocols say and do: ``protocol`` names the Protocol
    class that declares the method (``""``: none, a datamodule's own hooks);
    ``doc`` is its normative docstring, ``body`` the source of its default body
    (``None``: no default, every implementation must provide the method), and
    ``callback_doc`` the docstring of the ``Callback`` counterpart (empty: a
    pointer to this hook's Protocol). ``return_hint`` says what to write instead,
    for returned values people get wrong; the runtime check appends it to its error.
    ``log`` is where ``self.log`` may be called (:mod:`loophooks.spec._log_levels`):
    its levels, ``REFUSED``, or ``None`` where Lightning has no rule for the hook.
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
    hands_on: bool = False
    protocol: str = ""
    doc: str = ""
    body: Optional[str] = "return None"
    callback_doc: str = ""
    return_hint: str = ""
    log: LogRule = None

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

# A batch hook must hand a batch on: returning nothing is a mistake, unless nothing came (``hands_on``).
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
    protocol: str,
    doc: str,
    body: str = "return None",
    log: LogRule = REFUSED,
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
        protocol=protocol,
        doc=doc,
        body=body,
        log=log,
    )


def _batch_start(
    stage: str, stages: frozenset[Stage], *, with_loader: bool, protocol: str, doc: str, log: LogRule
) -> Hook:
    params = (_BATCH, _BATCH_IDX, _LOADER_IDX) if with_loader else (_BATCH, _BATCH_IDX)
    return Hook(
        f"on_{stage}_batch_start",
        "model",
        params,
        stages=stages,
        callback=params,
        summary=f"Before anything else happens for a {stage} batch.",
        callers=_CALLBACKS_FIRST,
        protocol=protocol,
        doc=doc,
        log=log,
    )


def _batch_end(
    stage: str, stages: frozenset[Stage], outputs: Param, *, with_loader: bool, protocol: str, doc: str, log: LogRule
) -> Hook:
    params = (outputs, _BATCH, _BATCH_IDX, _LOADER_IDX) if with_loader else (outputs, _BATCH, _BATCH_IDX)
    return Hook(
        f"on_{stage}_batch_end",
        "model",
        params,
        stages=stages,
        callback=params,
        summary=f"After the {stage} step of a batch, with what the step returned.",
        callers=_CALLBACKS_FIRST,
        protocol=protocol,
        doc=doc,
        log=log,
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
        callback_doc="See ``ModelHooks.on_train_batch_start``; a callback cannot skip the epoch.",
        # `-> int | None` is the annotation (Lightning's) and True is an int, so no type catches `return True`
        # or `return 1`: the error says what to write instead.
        return_hint=(
            "return None to go on, or -1 to end this epoch's training; to skip only this batch, return None from"
            " training_step (annotate the override `-> Literal[-1] | None` to have a type checker catch this)"
        ),
        protocol="BatchHooks",
        doc="""Called before anything else happens for a training batch (before ``training_step``).

        ``batch_idx`` counts batches within the epoch from 0. The implementation may
        return ``-1``: the trainer must then skip this batch and end the epoch's
        training at once. ``on_train_batch_end`` is not called for that batch, the
        epoch's remaining batches are not fetched, and the epoch ends normally
        (``on_train_epoch_end``, epoch-interval schedulers, checkpointing). Any other
        return value than ``None`` or ``-1`` is a contract violation.
        """,
        log=LOG_STEP,
    )
    return (
        # --- ModelHooks: stage brackets ---------------------------------------------------------
        _plain(
            "on_fit_start",
            "model",
            _FIT,
            "At the very beginning of fit, on every process.",
            state_free=True,
            protocol="StageHooks",
            doc="""Called once at the beginning of ``fit``, on every process (when: ORDER.md, *Every entry point*).

            The optimizers exist; a checkpoint given as ``ckpt_path`` has been loaded into
            the model, but the training counters still read 0 (they are restored after
            this hook, ORDER.md *Checkpoints*). The model is in train mode.
            """,
        ),
        _plain(
            "on_fit_end",
            "model",
            _FIT,
            "At the very end of fit, on every process.",
            state_free=True,
            closes="on_fit_start",
            protocol="StageHooks",
            doc="""Called once at the very end of ``fit``, on every process (when: ORDER.md, *Every entry point*).

            Not called when fit ends with an exception.
            """,
        ),
        _plain(
            "on_train_start",
            "model",
            _FIT,
            "At the beginning of training, after the sanity check.",
            state_free=True,
            protocol="StageHooks",
            doc="""Called once when training begins inside ``fit`` (when: ORDER.md, *fit*).

            The model is in train mode.
            """,
            log=LOG_EPOCH,
        ),
        _plain(
            "on_train_end",
            "model",
            _FIT,
            "At the end of training.",
            state_free=True,
            closes="on_train_start",
            protocol="StageHooks",
            doc="""Called once when training ends inside ``fit`` (when: ORDER.md, *fit*).""",
        ),
        _plain(
            "on_validation_start",
            "model",
            _VAL,
            "At the beginning of a validation run.",
            protocol="StageHooks",
            doc="""Called at the beginning of every validation run (when: ORDER.md, *Validation inside fit*).

            The sanity check and fit's validation are validation runs too. The model is
            already in eval mode (``on_validation_model_eval`` has run) and gradients are
            off: ``torch.no_grad`` inside fit, ``torch.inference_mode`` in ``validate``.
            """,
            log=LOG_EPOCH,
        ),
        _plain(
            "on_validation_end",
            "model",
            _VAL,
            "At the end of a validation run.",
            closes="on_validation_start",
            protocol="StageHooks",
            doc="""Called at the end of every validation run (when: ORDER.md, *Validation inside fit*).

            The model is still in eval mode: its modes are restored after this hook.
            """,
        ),
        _plain(
            "on_test_start",
            "model",
            _TEST,
            "At the beginning of testing.",
            protocol="StageHooks",
            doc="""Called at the beginning of ``test``; the model is in eval mode under ``torch.inference_mode``.""",
            log=LOG_EPOCH,
        ),
        _plain(
            "on_test_end",
            "model",
            _TEST,
            "At the end of testing.",
            closes="on_test_start",
            protocol="StageHooks",
            doc="""Called at the end of ``test`` (when: ORDER.md, *validate and test*); the model is still in eval mode.""",
        ),
        _plain(
            "on_predict_start",
            "model",
            _PREDICT,
            "At the beginning of predicting.",
            protocol="StageHooks",
            doc="""Called at the beginning of ``predict``; the model is in eval mode under ``torch.inference_mode``.""",
        ),
        _plain(
            "on_predict_end",
            "model",
            _PREDICT,
            "At the end of predicting.",
            closes="on_predict_start",
            protocol="StageHooks",
            doc="""Called at the end of ``predict``.""",
        ),
        # --- ModelHooks: batches ------------------------------------------------------------------
        train_batch_start,
        _batch_end(
            "train",
            _FIT,
            _OUTPUTS,
            with_loader=False,
            protocol="BatchHooks",
            doc="""Called when a training batch is done, its optimizer step included (when: ORDER.md, *A training batch*).

            ``outputs`` is what ``training_step`` returned, normalised to a dict whose
            ``"loss"`` is the detached loss divided by ``accumulate_grad_batches``
            (``None`` where the step returned ``None``). Not called for a batch whose
            ``on_train_batch_start`` returned ``-1``.
            """,
            log=LOG_STEP,
        ),
        _batch_start(
            "validation",
            _VAL,
            with_loader=True,
            protocol="BatchHooks",
            doc="""Called before ``validation_step`` for each validation batch; ``batch_idx`` counts per dataloader.""",
            log=LOG_EVAL_STEP,
        ),
        _batch_end(
            "validation",
            _VAL,
            _OUTPUTS,
            with_loader=True,
            protocol="BatchHooks",
            doc="""Called after ``validation_step``, with what it returned.""",
            log=LOG_EVAL_STEP,
        ),
        _batch_start(
            "test",
            _TEST,
            with_loader=True,
            protocol="BatchHooks",
            doc="""Called before ``test_step`` for each test batch; ``batch_idx`` counts per dataloader.""",
            log=LOG_EVAL_STEP,
        ),
        _batch_end(
            "test",
            _TEST,
            _OUTPUTS,
            with_loader=True,
            protocol="BatchHooks",
            doc="""Called after ``test_step``, with what it returned.""",
            log=LOG_EVAL_STEP,
        ),
        _batch_start(
            "predict",
            _PREDICT,
            with_loader=True,
            protocol="BatchHooks",
            doc="""Called before ``predict_step`` for each batch; ``batch_idx`` counts per dataloader.""",
            log=REFUSED,
        ),
        _batch_end(
            "predict",
            _PREDICT,
            Param("outputs", Optional[Any]),
            with_loader=True,
            protocol="BatchHooks",
            doc="""Called after ``predict_step``, with what it returned.""",
            log=REFUSED,
        ),
        # --- ModelHooks: the model's mode around evaluation ---------------------------------------
        _plain(
            "on_validation_model_zero_grad",
            "model",
            _FIT,
            "Before validation inside fit, to release the gradients.",
            callback=False,
            state_free=True,
            protocol="EvalModeHooks",
            doc="""Called inside ``fit`` just before each validation run that follows training, to free gradients.

            Not called before the sanity check, which runs before any gradient exists;
            called even when that validation run has no batches.

            Gradients left from training would otherwise occupy memory during
            validation. The default zeroes them, setting them to ``None``.
            """,
            body="""cast(torch.nn.Module, self).zero_grad(set_to_none=True)""",
        ),
        _plain(
            "on_validation_model_eval",
            "model",
            _VAL,
            "Puts the model in eval mode for validation.",
            callback=False,
            state_free=True,
            protocol="EvalModeHooks",
            doc="""Called at the start of every validation run (ORDER.md, *Validation inside fit*); puts the model in eval mode.

            The trainer must remember each submodule's ``training`` flag before this hook
            so that it can restore exactly those flags afterwards: a submodule the user
            froze in eval mode stays in eval mode after validation (Lightning #2551).
            Override to keep some layers in train mode during validation.
            """,
            body="""loop_model(self).eval()""",
        ),
        Hook(
            "on_validation_model_train",
            "model",
            stages=_VAL,
            override_only=True,
            summary="Restores the model's mode after validation; called only when overridden.",
            state_free=True,
            protocol="EvalModeHooks",
            doc="""Called at the end of a validation run (ORDER.md, *Validation inside fit*), only if the model overrides it.

            When it is not overridden the trainer restores each submodule's remembered
            ``training`` flag itself (Lightning #20177), which this default cannot do:
            it puts the whole model in train mode, for implementations that call
            ``super()``.
            """,
            body="""loop_model(self).train()""",
            log=REFUSED,
        ),
        _plain(
            "on_test_model_eval",
            "model",
            _TEST,
            "Puts the model in eval mode for testing.",
            callback=False,
            state_free=True,
            protocol="EvalModeHooks",
            doc="""Called at the start of ``test`` (ORDER.md, *validate and test*); puts the model in eval mode.""",
            body="""loop_model(self).eval()""",
        ),
        Hook(
            "on_test_model_train",
            "model",
            stages=_TEST,
            override_only=True,
            summary="Restores the model's mode after testing; called only when overridden.",
            state_free=True,
            protocol="EvalModeHooks",
            doc="""Called at the end of ``test`` (ORDER.md, *validate and test*), only if the model overrides it.

            As ``on_validation_model_train``: otherwise the trainer restores the
            remembered flags.
            """,
            body="""loop_model(self).train()""",
            log=REFUSED,
        ),
        _plain(
            "on_predict_model_eval",
            "model",
            _PREDICT,
            "Puts the model in eval mode for predicting.",
            callback=False,
            state_free=True,
            protocol="EvalModeHooks",
            doc="""Called at the start of ``predict`` (ORDER.md, *predict*); puts the model in eval mode.

            There is no ``on_predict_model_train``: the trainer restores the remembered
            flags after predicting.
            """,
            body="""loop_model(self).eval()""",
            log=None,
        ),
        # --- ModelHooks: epochs -------------------------------------------------------------------
        _plain(
            "on_train_epoch_start",
            "model",
            _FIT,
            "At the very beginning of a training epoch.",
            protocol="EpochHooks",
            doc="""Called at the very beginning of each training epoch, before its first batch is fetched (ORDER.md, *fit*).""",
            log=LOG_EPOCH,
        ),
        Hook(
            "on_train_epoch_end",
            "model",
            stages=_FIT,
            callback=(),
            summary="At the very end of a training epoch.",
            # monitoring callbacks last, so they see what the model logged here (Lightning's exception)
            callers=("callbacks", "module", "monitoring_callbacks"),
            closes="on_train_epoch_start",
            protocol="EpochHooks",
            doc="""Called at the very end of each training epoch, any validation run that ends it included (ORDER.md, *fit*).

            Monitoring callbacks (checkpointing, early stopping) hear it after the model,
            so they see what the model logged here (``Hook.callers``). To aggregate a
            whole epoch's outputs, collect them on the model in ``training_step`` and read
            (then clear) them here.
            """,
            log=LOG_EPOCH,
        ),
        _plain(
            "on_validation_epoch_start",
            "model",
            _VAL,
            "At the beginning of a validation run's epoch.",
            protocol="EpochHooks",
            doc="""Called at the beginning of each validation run's single epoch (when: ORDER.md, *Validation inside fit*).""",
            log=LOG_EPOCH,
        ),
        _plain(
            "on_validation_epoch_end",
            "model",
            _VAL,
            "At the end of a validation run's epoch.",
            closes="on_validation_epoch_start",
            protocol="EpochHooks",
            doc="""Called at the end of each validation run's epoch (when: ORDER.md, *Validation inside fit*).""",
            log=LOG_EPOCH,
        ),
        _plain(
            "on_test_epoch_start",
            "model",
            _TEST,
            "At the beginning of the test epoch.",
            protocol="EpochHooks",
            doc="""Called at the beginning of the test epoch (when: ORDER.md, *validate and test*).""",
            log=LOG_EPOCH,
        ),
        _plain(
            "on_test_epoch_end",
            "model",
            _TEST,
            "At the end of the test epoch.",
            closes="on_test_epoch_start",
            protocol="EpochHooks",
            doc="""Called at the end of the test epoch, after its last batch (ORDER.md, *validate and test*).""",
            log=LOG_EPOCH,
        ),
        _plain(
            "on_predict_epoch_start",
            "model",
            _PREDICT,
            "At the beginning of the predict epoch.",
            protocol="EpochHooks",
            doc="""Called at the beginning of the predict epoch (when: ORDER.md, *predict*).""",
        ),
        _plain(
            "on_predict_epoch_end",
            "model",
            _PREDICT,
            "At the end of the predict epoch.",
            closes="on_predict_epoch_start",
            protocol="EpochHooks",
            doc="""Called at the end of the predict epoch, after its last batch (ORDER.md, *predict*).""",
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
            protocol="OptimizationHooks",
            doc="""Called before the gradients are zeroed (when: ORDER.md, *Automatic optimisation*).

            It runs once for every batch that zeroes them. The weights seen here are those
            after the previous optimizer step.
            """,
            log=LOG_STEP,
        ),
        Hook(
            "on_before_backward",
            "model",
            (Param("loss", Tensor),),
            stages=_FIT,
            callback=(Param("loss", Tensor),),
            summary="Before backward, with the loss divided for accumulation (and scaled under AMP).",
            callers=_CALLBACKS_FIRST,
            protocol="OptimizationHooks",
            doc="""Called just before ``backward`` (ORDER.md, *Automatic optimisation*).

            ``loss`` is a scalar tensor that requires grad: the loss ``training_step``
            returned divided by ``accumulate_grad_batches`` (Lightning #13243) and,
            under ``16-mixed`` with a gradient scaler, multiplied by the scale.
            """,
            log=LOG_STEP,
        ),
        _plain(
            "on_after_backward",
            "model",
            _FIT,
            "After backward, before the optimizer steps.",
            protocol="OptimizationHooks",
            doc="""Called just after ``backward`` (ORDER.md, *Automatic optimisation*).

            Under ``16-mixed`` with a gradient scaler the gradients here are still scaled
            (Lightning #4151); read unscaled gradients in ``on_before_optimizer_step``.
            Under data parallelism, gradients are synchronised only in the backward of
            a batch that completes an accumulation window: on the other batches they
            are this process's own, on that batch the average over processes.
            """,
            log=LOG_STEP,
        ),
        Hook(
            "on_before_optimizer_step",
            "model",
            (_OPTIMIZER,),
            stages=_FIT,
            callback=(_OPTIMIZER,),
            summary="Before the optimizer steps, with unscaled, unclipped, accumulated gradients.",
            callers=_CALLBACKS_FIRST,
            protocol="OptimizationHooks",
            doc="""Called before the optimizer updates the parameters (when: ORDER.md, *Automatic optimisation*).

            It runs once per accumulation window. The gradients exist and are finite for
            every trainable parameter that took part in the loss; they are accumulated over
            the window, unscaled (under AMP), averaged over processes (under data
            parallelism), and not yet clipped (Lightning #10248). The update that follows
            must change the parameters.
            """,
            log=LOG_STEP,
        ),
        Hook(
            "configure_sharded_model",
            "model",
            override_only=True,
            summary="Deprecated form of configure_model; called only when overridden.",
            state_free=True,
            protocol="ConfigureModelHooks",
            doc="""Deprecated: use ``configure_model``. Called only if overridden; overriding both is an error.""",
            log=REFUSED,
        ),
        Hook(
            "configure_model",
            "model",
            override_only=True,
            summary="Creates modules inside the strategy's context; must be idempotent.",
            state_free=True,
            protocol="ConfigureModelHooks",
            doc="""Creates layers in the strategy's context; called only if overridden (when: ORDER.md, *Every entry point*).

            It runs inside the strategy's and precision's initialisation context, so
            layers are created on the right device with the right dtype. Since every
            entry point calls it, the implementation must be idempotent.
            """,
            log=REFUSED,
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
            protocol="DataPreparationHooks",
            doc="""Downloads or writes data, once per node or once in total; called only if overridden.

            With ``prepare_data_per_node`` true (the default) it runs on local rank 0 of
            every node; otherwise only on global rank 0. The other processes wait at a
            barrier until it returns. It runs before ``setup`` and before distributed
            state exists, so it must not set state on the model that other processes
            need: that belongs in ``setup``.
            """,
            log=REFUSED,
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
            callback_doc="At the beginning of every entry point (ORDER.md, *Every entry point*).",
            protocol="DataPreparationHooks",
            doc="""Called on every process at the beginning of an entry point (ORDER.md, *Every entry point*).

            ``stage`` is ``"fit"``, ``"validate"``, ``"test"`` or ``"predict"``. A good
            place to build layers that depend on the data.
            """,
            log=REFUSED,
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
            callback_doc="At the end of every entry point that did not raise (ORDER.md, *Every entry point*).",
            protocol="DataPreparationHooks",
            doc="""Called on every process at the end of an entry point, with the same ``stage`` as ``setup``.

            Not called when the entry point ends with an exception: the trainer calls
            the callbacks' ``on_exception`` and lets the exception propagate (Lightning
            #19594). Clean-up that must happen on failure belongs in a callback's
            ``on_exception`` or in a ``try``/``finally`` around the entry point.
            """,
            log=REFUSED,
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
            protocol="DataLoaderHooks",
            doc="""The training data for ``fit``. The default raises: fit needs it unless loaders are passed in.""",
            body="""raise missing_hook("train_dataloader", "to fit without passing train_dataloaders")""",
            log=REFUSED,
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
            protocol="DataLoaderHooks",
            doc="""The test data for ``test``. The default raises.""",
            body="""raise missing_hook("test_dataloader", "to test without passing dataloaders")""",
            log=REFUSED,
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
            protocol="DataLoaderHooks",
            doc="""The validation data for ``fit``'s validation and for ``validate``. The default raises.""",
            body="""raise missing_hook("val_dataloader", "to validate without passing dataloaders")""",
            log=REFUSED,
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
            protocol="DataLoaderHooks",
            doc="""The data for ``predict``. The default raises.""",
            body="""raise missing_hook("predict_dataloader", "to predict without passing dataloaders")""",
        ),
        Hook(
            "transfer_batch_to_device",
            "data",
            (_BATCH, Param("device", torch.device), _LOADER_IDX_REQ),
            returns=Any,
            contract=_A_BATCH,
            hands_on=True,
            datamodule=True,
            summary="Moves a batch to the device; override for custom batch types.",
            callers=("datamodule_or_module",),
            host_batch=True,
            protocol="BatchTransferHooks",
            doc="""Moves ``batch`` to ``device`` and returns it.

            The default moves tensors (and anything with ``.to``) inside any nesting of
            lists, tuples, named tuples, dicts and dataclasses. Override for other batch
            types; the implementation should only move, not change, the data.
            """,
            body="""return move_data_to_device(batch, device)""",
            log=REFUSED,
        ),
        Hook(
            "on_before_batch_transfer",
            "data",
            (_BATCH, _LOADER_IDX_REQ),
            returns=Any,
            contract=_A_BATCH,
            hands_on=True,
            datamodule=True,
            summary="Alters a batch before it is moved to the device; must return the batch.",
            callers=("datamodule_or_module",),
            host_batch=True,
            protocol="BatchTransferHooks",
            doc="""Alters the batch on the host before it is moved; must return the batch.""",
            body="""return batch""",
            log=REFUSED,
        ),
        Hook(
            "on_after_batch_transfer",
            "data",
            (_BATCH, _LOADER_IDX_REQ),
            returns=Any,
            contract=_A_BATCH,
            hands_on=True,
            datamodule=True,
            summary="Alters a batch after it is moved to the device; must return the batch.",
            callers=("datamodule_or_module",),
            protocol="BatchTransferHooks",
            doc="""Alters the batch on the device after it is moved; must return the batch.""",
            body="""return batch""",
            log=REFUSED,
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
            callback_doc="See ``CheckpointHooks.on_load_checkpoint``; who hears it first: ``callers`` (ORDER.md, *Checkpoints*).",
            protocol="CheckpointHooks",
            doc="""Called when a checkpoint given as ``ckpt_path`` is restored, with the loaded dict.

            When, and why the model hears it before the callbacks: ORDER.md,
            *Checkpoints*. The model's weights are not yet loaded from
            ``checkpoint["state_dict"]``; the trainer restores epoch, step, optimizer,
            scheduler and scaler state itself, later (Lightning #7535).
            """,
            log=REFUSED,
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
            callback_doc="See ``CheckpointHooks.on_save_checkpoint``; who hears it first: ``callers`` (ORDER.md, *Checkpoints*).",
            protocol="CheckpointHooks",
            doc="""Called when a checkpoint is about to be written, with the complete dict; may add keys.

            When: ORDER.md, *Checkpoints*. The dict already holds
            ``epoch``, ``global_step``, ``state_dict``, ``loops``, ``optimizer_states``,
            ``lr_schedulers`` and ``callbacks``.
            """,
            log=REFUSED,
        ),
        # --- What a loop calls that Lightning keeps on LightningModule ----------------------------
        Hook(
            "training_step",
            "step",
            (_BATCH, _STEP_BATCH_IDX),
            returns=STEP_OUTPUT,
            stages=_FIT,
            summary="Computes the loss of one training batch.",
            protocol="TrainingStep",
            doc="""Computes one training batch's loss.

            Under automatic optimization it returns the loss (a scalar tensor that
            requires grad), a dict with a ``"loss"`` entry, or ``None`` to skip the
            batch's backward and step. Called with grad enabled and the model in train
            mode, inside autocast under mixed precision.
            """,
            body=None,
            log=LOG_STEP,
        ),
        Hook(
            "validation_step",
            "step",
            (_BATCH, _STEP_BATCH_IDX, _LOADER_IDX),
            returns=STEP_OUTPUT,
            stages=_VAL,
            summary="Evaluates one validation batch.",
            protocol="ValidationStep",
            doc="""Evaluates one validation batch; ``dataloader_idx`` is passed only with several loaders.""",
            body=None,
            log=LOG_EVAL_STEP,
        ),
        Hook(
            "test_step",
            "step",
            (_BATCH, _STEP_BATCH_IDX, _LOADER_IDX),
            returns=STEP_OUTPUT,
            stages=_TEST,
            summary="Evaluates one test batch.",
            protocol="TestStep",
            doc="""Evaluates one test batch; ``dataloader_idx`` is passed only with several loaders.""",
            body=None,
            log=LOG_EVAL_STEP,
        ),
        Hook(
            "predict_step",
            "step",
            (_BATCH, _STEP_BATCH_IDX, _LOADER_IDX),
            returns=Any,
            stages=_PREDICT,
            summary="Predicts one batch.",
            protocol="PredictStep",
            doc="""Predicts one batch; what it returns is collected when ``return_predictions`` is on.""",
            body=None,
            log=REFUSED,
        ),
        Hook(
            "configure_optimizers",
            "optimization",
            returns=OptimizerLRScheduler,
            contract=OPTIMIZER_FORMS_AT_RUNTIME,
            stages=_FIT,
            summary="The optimizers and learning-rate schedulers, in one of the documented forms.",
            state_free=True,
            protocol="ConfigureOptimizers",
            doc="""Returns the optimizers and schedulers, once per ``fit`` (when: ORDER.md, *Every entry point*).

            It runs before ``on_fit_start`` (Lightning #16170). The accepted forms: an
            optimizer; a list or tuple of optimizers; two lists (optimizers, schedulers);
            a dict ``{"optimizer": ..., "lr_scheduler": ...}`` whose scheduler may be a
            dict with ``"scheduler"``, ``"interval"`` (``"epoch"`` or ``"step"``),
            ``"frequency"`` and ``"monitor"``; a list of such dicts; or ``None`` (no
            optimization, with a warning).
            """,
            body=None,
            log=REFUSED,
        ),
        Hook(
            "configure_callbacks",
            "optimization",
            returns=Any,
            summary="Callbacks the model adds to the Trainer's.",
            state_free=True,
            protocol="ConfigureCallbacks",
            doc="""Returns a callback or a list of callbacks added to the trainer's when the model is attached.

            A returned callback replaces the trainer's callbacks of the same type.
            """,
            body="""return []""",
            log=REFUSED,
        ),
        Hook(
            "backward",
            "optimization",
            (Param("loss", Tensor),),
            stages=_FIT,
            summary="Runs backward on the (divided, scaled) loss.",
            protocol="OptimizationMethods",
            doc="""Computes gradients of ``loss`` (already divided for accumulation and scaled under AMP).""",
            body="""cast(Any, loss).backward()  # torch leaves Tensor.backward untyped""",
            log=LOG_STEP,
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
            protocol="OptimizationMethods",
            doc="""Steps ``optimizer`` once an accumulation window is complete (ORDER.md, *Automatic optimisation*).

            Where the trainer passes a closure, the closure runs the training step and
            backward and must be passed to ``optimizer.step`` (LBFGS calls it several
            times).
            """,
            body="""optimizer.step(closure=optimizer_closure)""",
            log=LOG_STEP,
        ),
        Hook(
            "optimizer_zero_grad",
            "optimization",
            (Param("epoch", int), _BATCH_IDX, _OPTIMIZER),
            stages=_FIT,
            summary="Zeroes the optimizer's gradients.",
            protocol="OptimizationMethods",
            doc="""Zeroes ``optimizer``'s gradients, once per accumulation window (ORDER.md, *Automatic optimisation*).""",
            body="""optimizer.zero_grad()""",
            log=LOG_STEP,
        ),
        Hook(
            "lr_scheduler_step",
            "optimization",
            (Param("scheduler", Any), Param("metric", Optional[Any])),
            stages=_FIT,
            summary="Steps one learning-rate scheduler at its interval.",
            protocol="OptimizationMethods",
            doc="""Steps one scheduler at its interval; ``metric`` is the monitored value for plateau schedulers.""",
            body="""if metric is None:
                scheduler.step()
            else:
                scheduler.step(metric)
            """,
            log=REFUSED,
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
            protocol="OptimizationMethods",
            doc="""Clips the gradients of ``optimizer``'s parameters before the update.

            Called at every optimizer step, with the trainer's ``gradient_clip_val``
            and ``gradient_clip_algorithm`` (``"norm"``, the default, or ``"value"``);
            it does nothing when ``gradient_clip_val`` is ``None`` or 0.
            """,
            body="""clip_gradients_of(optimizer, gradient_clip_val, gradient_clip_algorithm)""",
            log=LOG_STEP,
        ),
    )


# The hooks callbacks and the datamodule have and the model does not: the same event in both tables.
_EXCEPTION_CALLERS: Final[tuple[Caller, ...]] = ("callbacks", "datamodule")
_STATE_DICT_CALLERS: Final[tuple[Caller, ...]] = ("callbacks", "datamodule")  # when a checkpoint is saved
_LOAD_STATE_DICT_CALLERS: Final[tuple[Caller, ...]] = ("datamodule", "callbacks")  # when one is restored


_GROUP_PROTOCOL: Final[Mapping[Group, str]] = {
    "model": "ModelHooks",
    "data": "DataHooks",
    "checkpoint": "CheckpointHooks",
    "step": "",
    "optimization": "",
}
"""The Protocol a callback's ``See ...`` docstring points to, by the group of the model's hook."""


def _callback_table(hooks: Sequence[Hook]) -> tuple[Hook, ...]:
    """Callback hooks: the module hooks that have a counterpart, plus those only callbacks have."""
    trainer_module = (Param("trainer", Any), Param("pl_module", Any))
    mirrored = tuple(
        replace(
            h,
            params=trainer_module + h.callback,
            returns=None,
            contract=None,
            callback=None,
            datamodule=False,
            protocol="Callback",
            doc=h.callback_doc or f"See ``{_GROUP_PROTOCOL[h.group]}.{h.name}``.",
            body="return None",
            callback_doc="",
            return_hint="",
        )
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
            protocol="Callback",
            doc="Before the sanity check's validation run (callbacks only).",
            log=REFUSED,
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
            protocol="Callback",
            doc="After the sanity check's validation run (callbacks only).",
            log=REFUSED,
        ),
        Hook(
            "on_exception",
            "model",
            trainer_module + (Param("exception", BaseException),),
            summary="When a run is interrupted by an exception.",
            callers=_EXCEPTION_CALLERS,
            state_free=True,
            protocol="Callback",
            doc="""When an entry point is interrupted by ``exception``; nothing else runs after it, ``teardown``
            included, and the exception then propagates (ORDER.md, *Exceptions*).
            """,
            log=REFUSED,
        ),
        Hook(
            "state_dict",
            "checkpoint",
            returns=dict[str, Any],
            summary="The callback's state for the checkpoint.",
            callers=_STATE_DICT_CALLERS,
            state_free=True,
            protocol="Callback",
            doc='The callback\'s state, saved under ``checkpoint["callbacks"]``; ``{}`` saves nothing.',
            body="return {}",
            log=REFUSED,
        ),
        Hook(
            "load_state_dict",
            "checkpoint",
            (Param("state_dict", dict[str, Any]),),
            summary="Restores the callback's state from a checkpoint.",
            callers=_LOAD_STATE_DICT_CALLERS,
            state_free=True,
            protocol="Callback",
            doc="Restores what ``state_dict`` returned, when a checkpoint is loaded.",
            log=REFUSED,
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
            log=REFUSED,
        ),
        Hook(
            "load_state_dict",
            "checkpoint",
            (Param("state_dict", dict[str, Any]),),
            summary="Restores what state_dict returned, when a checkpoint is loaded.",
            callers=_LOAD_STATE_DICT_CALLERS,
            state_free=True,
            log=REFUSED,
        ),
        Hook(
            "on_exception",
            "data",
            (Param("exception", BaseException),),
            summary="When an entry point is interrupted by an exception, after the callbacks' on_exception.",
            callers=_EXCEPTION_CALLERS,
            state_free=True,
            log=REFUSED,
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


# --- The Protocol classes (spec/_protocols.py is generated from these and the hooks above) ------------


@final
@dataclass(frozen=True)
class Attribute:
    """A class attribute of a Protocol, with its value (the default every explicit subclass inherits)."""

    name: str
    annotation: type
    value: object
    doc: str


@final
@dataclass(frozen=True)
class ProtocolClass:
    """One Protocol of ``spec/_protocols.py``: its docstring, the finer Protocols it unites and its
    attributes. Its methods are the hooks whose ``protocol`` names it, in table order (``Callback``: every
    hook of :data:`CALLBACK_HOOKS`)."""

    name: str
    doc: str
    bases: tuple[str, ...] = ()
    attributes: tuple[Attribute, ...] = ()


PROTOCOL_CLASSES: Final[tuple[ProtocolClass, ...]] = (
    ProtocolClass(
        "StageHooks",
        "The brackets around each entry point and around training inside fit.",
    ),
    ProtocolClass(
        "BatchHooks",
        """Before and after the step of every batch.

        ``batch`` is the batch after device transfer (``on_after_batch_transfer`` has
        run). ``dataloader_idx`` is passed to the evaluation hooks only when the stage
        has more than one dataloader; implementations must therefore give it a default.
        """,
    ),
    ProtocolClass(
        "EvalModeHooks",
        "How the model enters and leaves evaluation.",
    ),
    ProtocolClass(
        "EpochHooks",
        "The beginning and end of every epoch of every loop.",
    ),
    ProtocolClass(
        "OptimizationHooks",
        """The points of an automatic optimization step where user code may look in.

        When each runs, and how often under ``accumulate_grad_batches``: ORDER.md,
        *Automatic optimisation* and *Manual optimisation*.
        """,
    ),
    ProtocolClass(
        "ConfigureModelHooks",
        "Building the model inside the trainer's context.",
    ),
    ProtocolClass(
        "ModelHooks",
        "The 38 model hooks of the standard (Lightning's ``ModelHooks``).",
        bases=(
            "StageHooks",
            "BatchHooks",
            "EvalModeHooks",
            "EpochHooks",
            "OptimizationHooks",
            "ConfigureModelHooks",
        ),
    ),
    ProtocolClass(
        "DataPreparationHooks",
        "Preparing data once, and setting up and tearing down on every process.",
    ),
    ProtocolClass(
        "DataLoaderHooks",
        """Where each loop's data comes from.

        A hook returns a dataloader, or any iterable, or a list or dict of them
        (several loaders; ``dataloader_idx`` then numbers them). When they are
        requested: ORDER.md, *fit*, *validate and test* and *predict*. When a
        datamodule overrides the hook, the datamodule's is used.
        """,
    ),
    ProtocolClass(
        "BatchTransferHooks",
        """The three hooks every batch goes through before its batch-start hook sees it
        (their order: ORDER.md, ``transfer(batch, i)`` under *Reading the pseudocode*).

        Each must return the batch: ``None`` is a contract violation, except where the
        hook was handed ``None`` (a loader may yield ``None``; the training loop then
        skips the batch, the evaluation loops hand it to the step). They run in
        every loop, the sanity check included; ``dataloader_idx`` is always passed
        (0 for a single loader).
        """,
    ),
    ProtocolClass(
        "DataHooks",
        "The 10 data hooks of the standard (Lightning's ``DataHooks``) and their two settings.",
        bases=(
            "DataPreparationHooks",
            "DataLoaderHooks",
            "BatchTransferHooks",
        ),
        attributes=(
            Attribute(
                "prepare_data_per_node",
                bool,
                True,
                "True: ``prepare_data`` runs on local rank 0 of every node. False: only on global rank 0.",
            ),
            Attribute(
                "allow_zero_length_dataloader_with_multiple_devices",
                bool,
                False,
                "True: a process may receive an empty dataloader when there are several devices.",
            ),
        ),
    ),
    ProtocolClass(
        "CheckpointHooks",
        "Adding to a checkpoint and reading it back.",
    ),
    ProtocolClass(
        "TrainingStep",
        "What ``fit`` requires of a model.",
    ),
    ProtocolClass(
        "ValidationStep",
        "What validation requires of a model.",
    ),
    ProtocolClass(
        "TestStep",
        "What ``test`` requires of a model.",
    ),
    ProtocolClass(
        "PredictStep",
        "What ``predict`` requires of a model.",
    ),
    ProtocolClass(
        "ConfigureOptimizers",
        "What ``fit`` requires of a model besides ``training_step``.",
    ),
    ProtocolClass(
        "ConfigureCallbacks",
        "Model-specific callbacks.",
    ),
    ProtocolClass(
        "OptimizationMethods",
        """The steps of automatic optimization, each overridable.

        Their order, and which of them run inside the closure ``optimizer_step``
        receives: ORDER.md, *Automatic optimisation* (``expected_calls`` as code).
        """,
    ),
    ProtocolClass(
        "Callback",
        """The hooks of a callback.

        Who hears an event, and in what order, is the table's ``Hook.callers`` (callbacks
        before the model as a rule); the callbacks among themselves run in the
        trainer's list order (ORDER.md, *Reading the pseudocode* and *Every entry
        point*). ``trainer`` is the trainer, ``pl_module`` the user's model (the name is
        Lightning's).
        """,
    ),
)
"""Every Protocol, in the order ``spec/_protocols.py`` defines them."""
