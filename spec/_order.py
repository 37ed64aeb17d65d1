"""The spec's call order as code: :func:`expected_calls` turns a :class:`Scenario`
into the exact list of hook calls a conforming trainer makes.

The generator reads like the pseudocode in ``spec/ORDER.md``: one small function
per phase (set-up, sanity check, training epoch, training batch, optimisation,
evaluation, prediction, checkpoints, tear-down), each appending calls to a
:class:`Writer` that also tracks the model's mode and the autograd state.
The arithmetic those phases ask about (how many batches, when to step, when to
validate) lives in :mod:`loophooks.spec._arith`.

Arguments are written in the recorder's normalised form
(``loophooks.conformance.normalize``): a batch as ``{"shape": [2, 4]}``, an
optimizer as ``{"optimizer": 0}``, a dict as ``{"keys": [...]}``. Those values
assume the conformance suite's reference model, described by the constants
below: batches of :data:`BATCH_SIZE` rows of :data:`FEATURES` features, a
``Linear(FEATURES, OUTPUTS)`` whose steps return ``{"loss": ...}``, one
optimizer, at most one scheduler, and, under manual optimisation, a
``training_step`` that calls ``zero_grad``, ``manual_backward`` and ``step`` once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from typing_extensions import final

from loophooks.spec import _arith
from loophooks.spec._scenario import Scenario, Stage
from loophooks.spec._hook_names import HookName, hook_name
from loophooks.spec._table import CALLBACK_HOOKS, CALLERS, DATAMODULE_HOOKS, EVERY_HOOK, HOOKS, Caller
from loophooks.spec._trace import ANY, Call, GradMode, Target

__all__ = [
    "BATCH_SIZE",
    "FEATURES",
    "OUTPUTS",
    "STATE_FREE_HOOKS",
    "expected_calls",
]

BATCH_SIZE: Final = 2
"""Rows per batch of the reference data (every loader yields full batches)."""
FEATURES: Final = 4
"""Features per row of the reference data."""
OUTPUTS: Final = 2
"""Outputs of the reference model's ``Linear(FEATURES, OUTPUTS)``."""

STATE_FREE_HOOKS: Final[frozenset[HookName]] = frozenset(
    hook_name(name) for name, hook in EVERY_HOOK.items() if hook.state_free
)
"""Hooks whose ``training`` and ``grad`` the spec leaves free (``None`` in
:func:`expected_calls` unless ``exact=True``): those the table marks ``state_free``."""

# Normalised argument values of the reference model (see the module docstring).
_BATCH: Final[dict[str, Any]] = {"shape": [BATCH_SIZE, FEATURES]}
_CUSTOM_BATCH: Final[dict[str, Any]] = {"type": "CustomBatch"}
_LOSS: Final[dict[str, Any]] = {"shape": []}
_STEP_OUTPUT: Final[dict[str, Any]] = {"keys": ["loss"]}
_PREDICTION: Final[dict[str, Any]] = {"shape": [BATCH_SIZE, OUTPUTS]}
_OPTIMIZER: Final[dict[str, Any]] = {"optimizer": 0}
_SCHEDULER: Final[dict[str, Any]] = {"scheduler": 0}
_CLOSURE: Final[dict[str, Any]] = {"callable": True}
_EXCEPTION: Final[dict[str, Any]] = {"exception": "RuntimeError"}

_EVAL_LOADERS: Final[dict[HookName, Any]] = {
    "val_dataloader": lambda s: (s.val_batches, s.limit_val_batches),
    "test_dataloader": lambda s: (s.test_batches, s.limit_test_batches),
    "predict_dataloader": lambda s: (s.predict_batches, s.limit_predict_batches),
}


class _FaultRaised(Exception):
    """The scenario's fault fired in the hook just written: the run stops here."""


@final
@dataclass
class _Progress:
    """The counters of one fit: epoch, optimizer steps, batches across epochs."""

    epoch: int = 0
    global_step: int = 0
    total_batch_idx: int = -1


@final
@dataclass(frozen=True)
class _Restart:
    """Where a fit resumed from a checkpoint picks up."""

    epoch: int
    batch: int | None  # first batch to run, or None to start the epoch afresh
    global_step: int
    total_batch_idx: int
    sanity_check: bool  # whether the resumed fit runs the sanity check


@final
@dataclass
class Writer:
    """Appends calls in order and tracks what the spec says holds at each one."""

    scenario: Scenario
    exact: bool
    calls: list[Call] = field(default_factory=list)
    callbacks_count: int = 0
    training: bool = True
    grad: GradMode = "enabled"
    # where the training loop is, for the fault
    epoch: int = 0
    batch_idx: int | None = None
    val_loader_requested: bool = False
    resumed: bool = False  # the second run of a resume scenario: it saves nothing
    restart: _Restart | None = None  # where the checkpoint the first run saved resumes

    @property
    def device(self) -> str:
        return "cuda:0" if self.scenario.device == "cuda" else "cpu"

    @property
    def batch(self) -> dict[str, Any]:
        return _CUSTOM_BATCH if self.scenario.custom_batch else _BATCH

    @property
    def train_batch(self) -> Any:
        """A training batch: one loader's, or with several training loaders the list of their batches."""
        if self.scenario.combined_train:
            return [self.batch for _ in self.scenario.combined_train]
        return self.batch

    def _write(self, hook: HookName, target: Target, args: dict[str, Any]) -> None:
        free = not self.exact and hook in STATE_FREE_HOOKS
        device = None
        if "batch" in args:
            device = "cpu" if EVERY_HOOK[hook].host_batch else self.device
        self.calls.append(
            Call(
                hook,
                target,
                args,
                training=None if free else self.training,
                grad=None if free else self.grad,
                device=device,
            )
        )
        fault = self.scenario.fault
        if (
            fault is not None
            and target == "module"
            and hook == fault.where
            and (self.epoch, self.batch_idx) == (fault.epoch, fault.batch)
        ):
            raise _FaultRaised

    def module(self, hook: HookName, **args: Any) -> None:
        self._write(hook, "module", args)

    def callbacks(self, hook: HookName, **args: Any) -> None:
        for _ in range(self.callbacks_count):
            self._write(hook, "callback", dict(args))

    def event(self, hook: HookName, **args: Any) -> None:
        """One event of ``hook``: everyone the table's ``callers`` names, in that order.

        The reference callbacks are all ordinary ones: ``monitoring_callbacks``
        writes nothing, ``callbacks`` writes every callback.
        """
        for caller in CALLERS[hook]:
            self.write(caller, hook, args)

    def write(self, caller: Caller, hook: HookName, args: dict[str, Any]) -> None:
        if caller == "module":
            self.module(hook, **args)
        elif caller == "callbacks":
            self.callbacks(hook, **args)
        elif caller == "datamodule":
            self.datamodule(hook, **args)
        elif caller == "datamodule_or_module":
            self.data(hook, **args)
        # monitoring_callbacks: the reference scenarios have none

    def datamodule(self, hook: HookName, **args: Any) -> None:
        if self.scenario.datamodule:
            self._write(hook, "datamodule", args)

    def data(self, hook: HookName, **args: Any) -> None:
        """A data hook: the datamodule's when there is one, else the module's.

        A dataloader's limit is applied when the loader is requested, as a trainer
        does: a limit that selects no batch is an error there, before anything
        that follows (a fault in the first training step, say) can happen.
        """
        self._write(hook, "datamodule" if self.scenario.datamodule else "module", args)
        s = self.scenario
        if hook == "train_dataloader":
            _arith.limit_batches(s.train_batches, s.limit_train_batches)
        elif hook in _EVAL_LOADERS:
            lengths, limit = _EVAL_LOADERS[hook](s)
            _arith.eval_batches(lengths, limit)


def expected_calls(scenario: Scenario, *, exact: bool = False) -> list[Call]:
    """The hook calls a conforming trainer makes for ``scenario``, in order.

    With ``exact=False`` the model's mode and the autograd state are left free
    (``None``) for the hooks in :data:`STATE_FREE_HOOKS`; ``exact=True`` fixes them
    everywhere as Lightning 2.6 has them (used to prove the generator against it).
    A scenario with a ``resume`` gives both runs: the first, which saves the
    checkpoint, then the second, which fits again from it.
    """
    _check(scenario)
    w = Writer(scenario, exact)
    try:
        if scenario.resume is not None:
            _run(w, "fit")
            if w.restart is None:
                raise ValueError(
                    f"Scenario.resume: expected a point the first fit reaches, got {scenario.resume} "
                    f"(max_epochs={scenario.max_epochs}, max_steps={scenario.max_steps}, "
                    f"train_batches={scenario.train_batches}, limit_train_batches={scenario.limit_train_batches})"
                )
            # a new trainer and fresh objects: nothing carries over but the checkpoint
            w.training, w.grad, w.val_loader_requested = True, "enabled", False
            w.epoch, w.batch_idx, w.resumed = 0, None, True
            _run(w, "fit")
        else:
            _run(w, scenario.fn)
    except _FaultRaised:
        _on_exception(w)
    for call in w.calls:
        _check_in_table(call)
    return w.calls


def _check_in_table(call: Call) -> None:
    """A call the writer noted for a target whose table lacks the hook is a bug in this module, never
    filtered out (``HookName`` catches a misspelled name; this catches a hook written for the wrong target)."""
    table = CALLBACK_HOOKS if call.target == "callback" else DATAMODULE_HOOKS if call.target == "datamodule" else HOOKS
    if call.hook not in table:
        raise ValueError(f"expected_calls wrote {call.target} hook {call.hook!r}, which the hook table does not have")


def _check(s: Scenario) -> None:
    """Reject scenarios whose order Lightning does not define, before any work."""
    if s.manual_optimization and s.gradient_clip_val is not None:
        raise ValueError(
            f"Scenario.gradient_clip_val: expected None with manual_optimization=True "
            f"(the model clips its own gradients), got {s.gradient_clip_val!r}"
        )
    if s.manual_optimization and s.accumulate_grad_batches != 1:
        raise ValueError(
            f"Scenario.accumulate_grad_batches: expected 1 with manual_optimization=True "
            f"(the model accumulates itself), got {s.accumulate_grad_batches!r}"
        )
    if s.resume is not None and s.model_callbacks:
        raise ValueError(
            f"Scenario.model_callbacks: expected 0 with resume (the saving callback would sit between "
            f"the trainer's and the model's callbacks), got {s.model_callbacks!r}"
        )
    if s.resume is not None and s.fn != "fit":
        raise ValueError(f"Scenario.fn: expected 'fit' with resume, got {s.fn!r}")
    if isinstance(s.val_check_interval, int) and s.check_val_every_n_epoch is not None and _validation_enabled(s):
        n = _arith.limit_batches(s.train_batches, s.limit_train_batches)
        if s.val_check_interval > n:
            raise ValueError(
                f"Scenario.val_check_interval: expected at most the {n} training batches of an epoch "
                f"(or check_val_every_n_epoch=None to count across epochs), got {s.val_check_interval}"
            )


# --- one entry point: set-up, the stage, tear-down ------------------------------------------


def _run(w: Writer, fn: Stage) -> None:
    s = w.scenario
    w.callbacks_count = s.callbacks
    w.event("configure_callbacks")
    w.callbacks_count = s.callbacks + s.model_callbacks
    w.event("prepare_data")
    w.event("setup", stage=fn)
    w.event("configure_model")
    if w.resumed:
        _load_checkpoint(w)
    if fn == "fit":
        w.event("configure_optimizers")
        w.event("on_fit_start")
        _fit(w)
        w.event("on_fit_end")
    elif fn == "predict":
        _predict(w)
    else:
        _evaluate(w, "validation" if fn == "validate" else "test", in_fit=False)
    w.event("teardown", stage=fn)


def _on_exception(w: Writer) -> None:
    """A hook raised: callbacks and the datamodule hear of it; nothing is torn down."""
    w.event("on_exception", exception=_EXCEPTION)


# --- fit -------------------------------------------------------------------------------------


def _validation_enabled(s: Scenario) -> bool:
    """Whether fit validates: the model (or datamodule) serves validation data and
    ``limit_val_batches`` is not 0. Loaders that turn out empty still count: the
    loop asks for them and runs no batch."""
    return s.limit_val_batches != 0


def _fit(w: Writer) -> None:
    s = w.scenario
    restart = w.restart if w.resumed else None
    if _validation_enabled(s) and s.num_sanity_val_steps != 0 and (restart is None or restart.sanity_check):
        _sanity_check(w)
    if s.limit_train_batches == 0:
        return
    w.event("train_dataloader")
    num_batches = _arith.limit_batches(s.train_batches, s.limit_train_batches)
    progress = _Progress()
    if restart is not None:
        progress = _Progress(restart.epoch, restart.global_step, restart.total_batch_idx)
    if num_batches == 0 or _fit_done(s, progress):
        return
    validates_first = _arith.validates_in_epoch(progress.epoch, s.check_val_every_n_epoch)
    if validates_first and _validation_enabled(s) and not w.val_loader_requested:
        # the validation loaders are requested up front when the first epoch validates
        w.event("val_dataloader")
        w.val_loader_requested = True
    w.event("on_train_start")
    while not _fit_done(s, progress):
        first_batch = 0
        if restart is not None and restart.epoch == progress.epoch and restart.batch is not None:
            first_batch = restart.batch  # a mid-epoch restart does not start the epoch again
        else:
            w.event("on_train_epoch_start")
        _train_epoch(w, progress, num_batches, first_batch)
        saves = _saves_at(w, progress.epoch, None)
        # saved at the end of an epoch, a fit resumes with the next epoch, after a sanity check,
        # whether max_epochs or max_steps bounds it (deviation 2 in ORDER.md)
        restart = _Restart(progress.epoch + 1, None, progress.global_step, progress.total_batch_idx, True)
        _event_then_save(w, "on_train_epoch_end", save=restart if saves else None)
        w.batch_idx = None
        progress.epoch += 1
        w.epoch = progress.epoch
    w.event("on_train_end")


def _fit_done(s: Scenario, p: _Progress) -> bool:
    if s.max_steps != -1 and p.global_step >= s.max_steps:
        return True
    return s.max_epochs != -1 and p.epoch >= s.max_epochs


def _sanity_check(w: Writer) -> None:
    w.event("on_sanity_check_start")
    _evaluate(w, "validation", in_fit=True, sanity=True)
    w.event("on_sanity_check_end")


def _train_epoch(w: Writer, p: _Progress, num_batches: int, first_batch: int) -> None:
    s = w.scenario
    w.epoch = p.epoch
    for batch_idx in range(first_batch, num_batches):
        w.batch_idx = batch_idx
        p.total_batch_idx += 1
        last = batch_idx + 1 == num_batches
        _transfer(w, 0, w.train_batch)
        w.event("on_train_batch_start", batch=w.train_batch, batch_idx=batch_idx)
        if s.skip_epoch_at == (p.epoch, batch_idx):
            # -1: the rest of the epoch is skipped, validation included, but the
            # schedulers still see the batch as the epoch's last one (Lightning #21296)
            _step_schedulers(w, steps=True, last=True)
            return
        steps = (
            True if s.manual_optimization else _arith.steps_optimizer(batch_idx, num_batches, s.accumulate_grad_batches)
        )
        _optimization(w, p, batch_idx, steps)
        _step_schedulers(w, steps=steps, last=last)
        # saved mid-epoch, a fit resumes with the next batch of the same epoch, without a sanity check
        restart = _Restart(p.epoch, batch_idx + 1, p.global_step, p.total_batch_idx, False)
        _event_then_save(
            w,
            "on_train_batch_end",
            save=restart if _saves_at(w, p.epoch, batch_idx) else None,
            outputs=_STEP_OUTPUT,
            batch=w.train_batch,
            batch_idx=batch_idx,
        )
        if _validation_enabled(s) and _arith.validates_after(
            batch_idx=batch_idx,
            total_batch_idx=p.total_batch_idx,
            epoch=p.epoch,
            num_batches=num_batches,
            check_val_every_n_epoch=s.check_val_every_n_epoch,
            val_check_interval=s.val_check_interval,
        ):
            if steps:
                w.event("on_validation_model_zero_grad")
            _evaluate(w, "validation", in_fit=True)
        if s.max_steps != -1 and p.global_step >= s.max_steps:
            return


def _optimization(w: Writer, p: _Progress, batch_idx: int, steps: bool) -> None:
    s = w.scenario
    if s.manual_optimization:
        # the reference model's training_step: zero_grad, manual_backward, step
        w.event("training_step", batch=w.train_batch, batch_idx=batch_idx)
        _backward(w)
        w.event("on_before_optimizer_step", optimizer=_OPTIMIZER)
        p.global_step += 1
        return
    if steps:
        w.event("optimizer_step", epoch=p.epoch, batch_idx=batch_idx, optimizer=_OPTIMIZER, optimizer_closure=_CLOSURE)
    # the closure: the optimizer calls it inside optimizer_step; when accumulating it runs on its own
    w.event("training_step", batch=w.train_batch, batch_idx=batch_idx)
    if _arith.zeroes_grad(batch_idx, s.accumulate_grad_batches):
        w.event("on_before_zero_grad", optimizer=_OPTIMIZER)
        w.event("optimizer_zero_grad", epoch=p.epoch, batch_idx=batch_idx, optimizer=_OPTIMIZER)
    _backward(w)
    if steps:
        w.event("on_before_optimizer_step", optimizer=_OPTIMIZER)
        algorithm = s.gradient_clip_algorithm if s.gradient_clip_val is not None else None
        clip = {"gradient_clip_val": s.gradient_clip_val, "gradient_clip_algorithm": algorithm}
        # (its default calls the model's clip_gradients, a method, not a hook: no trace holds it)
        w.event("configure_gradient_clipping", optimizer=_OPTIMIZER, **clip)
        p.global_step += 1


def _backward(w: Writer) -> None:
    w.event("on_before_backward", loss=_LOSS)
    w.event("backward", loss=_LOSS)
    w.event("on_after_backward")


def _step_schedulers(w: Writer, *, steps: bool, last: bool) -> None:
    """Schedulers step after the batch's optimisation, before ``on_train_batch_end``:
    per-step ones when the optimizer stepped, per-epoch ones after the epoch's last
    batch. Under manual optimisation the model steps its own schedulers."""
    s = w.scenario
    if s.manual_optimization or s.lr_scheduler is None:
        return
    if (s.lr_scheduler == "step" and steps) or (s.lr_scheduler == "epoch" and last):
        w.event("lr_scheduler_step", scheduler=_SCHEDULER, metric=None)


def _transfer(w: Writer, dataloader_idx: int, batch: Any = None) -> None:
    batch = w.batch if batch is None else batch
    w.event("on_before_batch_transfer", batch=batch, dataloader_idx=dataloader_idx)
    w.event("transfer_batch_to_device", batch=batch, device=w.device, dataloader_idx=dataloader_idx)
    w.event("on_after_batch_transfer", batch=batch, dataloader_idx=dataloader_idx)


# --- validation, test, predict -----------------------------------------------------------------


def _evaluate(w: Writer, stage: str, *, in_fit: bool, sanity: bool = False) -> None:
    """One run of the validation or test loop (``stage`` is "validation" or "test")."""
    s = w.scenario
    outer_grad = w.grad
    # fit validates under no_grad (it may need autograd again right after);
    # validate and test run under inference_mode
    w.grad = "no_grad" if in_fit else "inference"
    try:
        limit = s.limit_test_batches if stage == "test" else s.limit_val_batches
        lengths = s.test_batches if stage == "test" else s.val_batches
        if limit == 0:
            return
        loader_hook: HookName = "test_dataloader" if stage == "test" else "val_dataloader"
        if not in_fit or not w.val_loader_requested:
            w.event(loader_hook)
            w.val_loader_requested = w.val_loader_requested or in_fit
        per_loader = _arith.eval_batches(lengths, limit)
        if sanity:
            per_loader = _arith.sanity_batches(per_loader, s.num_sanity_val_steps)
        if sum(per_loader) == 0:
            return
        w.event(hook_name(f"on_{stage}_model_eval"))
        w.training = False
        w.event(hook_name(f"on_{stage}_start"))
        w.event(hook_name(f"on_{stage}_epoch_start"))
        step: HookName = "test_step" if stage == "test" else "validation_step"
        for loader_idx, count in enumerate(per_loader):
            extra = {"dataloader_idx": loader_idx} if len(per_loader) > 1 else {}
            for batch_idx in range(count):
                _transfer(w, loader_idx)
                w.event(hook_name(f"on_{stage}_batch_start"), batch=w.batch, batch_idx=batch_idx, **extra)
                w.event(step, batch=w.batch, batch_idx=batch_idx, **extra)
                w.event(
                    hook_name(f"on_{stage}_batch_end"),
                    outputs=_STEP_OUTPUT,
                    batch=w.batch,
                    batch_idx=batch_idx,
                    **extra,
                )
        w.event(hook_name(f"on_{stage}_epoch_end"))
        w.event(hook_name(f"on_{stage}_end"))
        if s.mode_hooks:  # override_only: without an override the trainer restores the modes itself
            w.event(hook_name(f"on_{stage}_model_train"))
        w.training = True
    finally:
        w.grad = outer_grad


def _predict(w: Writer) -> None:
    s = w.scenario
    outer_grad = w.grad
    w.grad = "inference"
    try:
        _predict_loop(w, s)
    finally:
        w.grad = outer_grad


def _predict_loop(w: Writer, s: Scenario) -> None:
    if s.limit_predict_batches == 0:
        return
    w.event("predict_dataloader")
    per_loader = _arith.eval_batches(s.predict_batches, s.limit_predict_batches)
    if sum(per_loader) == 0:
        return
    w.event("on_predict_model_eval")
    w.training = False
    w.event("on_predict_start")
    w.event("on_predict_epoch_start")
    for loader_idx, count in enumerate(per_loader):
        extra = {"dataloader_idx": loader_idx} if len(per_loader) > 1 else {}
        for batch_idx in range(count):
            _transfer(w, loader_idx)
            w.event("on_predict_batch_start", batch=w.batch, batch_idx=batch_idx, **extra)
            w.event("predict_step", batch=w.batch, batch_idx=batch_idx, **extra)
            w.event("on_predict_batch_end", outputs=_PREDICTION, batch=w.batch, batch_idx=batch_idx, **extra)
    w.event("on_predict_epoch_end")
    w.event("on_predict_end")
    # the mode before prediction comes back without a hook (there is no on_predict_model_train)
    w.training = True


# --- checkpoints ---------------------------------------------------------------------------


def _saves_at(w: Writer, epoch: int, batch_idx: int | None) -> bool:
    """Whether the first run of a resume scenario saves here."""
    resume = w.scenario.resume
    return resume is not None and not w.resumed and (resume.epoch, resume.batch) == (epoch, batch_idx)


def _event_then_save(w: Writer, hook: HookName, *, save: _Restart | None, **args: Any) -> None:
    """One event of ``hook``; with ``save``, the saving callback (the last ordinary
    callback) saves a checkpoint in its own ``hook``, to resume at ``save``."""
    for caller in CALLERS[hook]:
        w.write(caller, hook, args)
        if caller == "callbacks" and save is not None:
            w.restart = save
            _save_checkpoint(w)


def _save_checkpoint(w: Writer) -> None:
    """What ``trainer.save_checkpoint`` calls: the callbacks' and the datamodule's
    ``state_dict``, then ``on_save_checkpoint`` (who hears each first: the table's ``callers``)."""
    w.event("state_dict")
    w.event("on_save_checkpoint", checkpoint=ANY)


def _load_checkpoint(w: Writer) -> None:
    """Restoring from a checkpoint: ``on_load_checkpoint``, which the model hears before
    the callbacks (the table's ``callers``). ``load_state_dict`` runs only for states
    saved non-empty; the reference callbacks and datamodule save none."""
    w.event("on_load_checkpoint", checkpoint=ANY)
