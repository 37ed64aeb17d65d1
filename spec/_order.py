"""The spec's call order as code: :func:`expected_calls` turns a :class:`Scenario`
into the exact list of hook calls a conforming trainer makes.

The generator reads like the pseudocode in ``spec/ORDER.md``: one small function
per phase (set-up, sanity check, training epoch, training batch, optimisation,
evaluation, prediction, checkpoints, tear-down), each appending calls to a
:class:`_Writer` that also tracks the model's mode and the autograd state.
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
from loophooks.spec._table import CALLBACK_HOOKS, DATAMODULE_HOOKS, HOOKS
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

STATE_FREE_HOOKS: Final = frozenset(
    {
        # Called around the loops, where the spec does not fix the model's mode or
        # the autograd state: a trainer may switch them earlier or later.
        "configure_callbacks",
        "prepare_data",
        "setup",
        "configure_sharded_model",
        "configure_model",
        "configure_optimizers",
        "on_fit_start",
        "on_fit_end",
        "teardown",
        "train_dataloader",
        "val_dataloader",
        "test_dataloader",
        "predict_dataloader",
        "state_dict",
        "load_state_dict",
        "on_save_checkpoint",
        "on_load_checkpoint",
        "on_exception",
        "on_sanity_check_start",
        "on_sanity_check_end",
        "on_train_start",
        "on_train_end",
        "on_validation_model_zero_grad",
        "on_validation_model_eval",
        "on_validation_model_train",
        "on_test_model_eval",
        "on_test_model_train",
        "on_predict_model_eval",
    }
)
"""Hooks whose ``training`` and ``grad`` the spec leaves free (``None`` in
:func:`expected_calls` unless ``exact=True``)."""

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

_BEFORE_TRANSFER: Final = frozenset({"on_before_batch_transfer", "transfer_batch_to_device"})


_EVAL_LOADERS: Final = {
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
class _Writer:
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

    def _write(self, hook: str, target: Target, args: dict[str, Any]) -> None:
        free = not self.exact and hook in STATE_FREE_HOOKS
        device = None
        if "batch" in args:
            device = "cpu" if hook in _BEFORE_TRANSFER else self.device
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

    def module(self, hook: str, **args: Any) -> None:
        self._write(hook, "module", args)

    def callbacks(self, hook: str, **args: Any) -> None:
        for _ in range(self.callbacks_count):
            self._write(hook, "callback", dict(args))

    def both(self, hook: str, **args: Any) -> None:
        """Every callback's hook, then the module's: the spec's order for one event."""
        self.callbacks(hook, **args)
        self.module(hook, **args)

    def datamodule(self, hook: str, **args: Any) -> None:
        if self.scenario.datamodule:
            self._write(hook, "datamodule", args)

    def data(self, hook: str, **args: Any) -> None:
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
    w = _Writer(scenario, exact)
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
    return [call for call in w.calls if _in_table(call)]


# Calls the writer notes that are methods, not hooks: no trace holds them, so the expectation drops them.
_NOT_HOOKS: Final = frozenset({"clip_gradients"})


def _in_table(call: Call) -> bool:
    """Whether ``call`` belongs in the expectation: a hook of the table, or a known non-hook (dropped).
    Any other name is a bug in this module, never filtered out: a misspelled hook would vanish."""
    if call.hook in _NOT_HOOKS:
        return False
    table = CALLBACK_HOOKS if call.target == "callback" else DATAMODULE_HOOKS if call.target == "datamodule" else HOOKS
    if call.hook not in table:
        raise ValueError(f"expected_calls wrote {call.target} hook {call.hook!r}, which the hook table does not have")
    return True


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


def _run(w: _Writer, fn: Stage) -> None:
    s = w.scenario
    w.callbacks_count = s.callbacks
    w.module("configure_callbacks")
    w.callbacks_count = s.callbacks + s.model_callbacks
    w.datamodule("prepare_data")
    w.module("prepare_data")
    w.datamodule("setup", stage=fn)
    w.both("setup", stage=fn)
    w.module("configure_model")
    if w.resumed:
        _load_checkpoint(w)
    if fn == "fit":
        w.module("configure_optimizers")
        w.both("on_fit_start")
        _fit(w)
        w.both("on_fit_end")
    elif fn == "predict":
        _predict(w)
    else:
        _evaluate(w, "validation" if fn == "validate" else "test", in_fit=False)
    w.datamodule("teardown", stage=fn)
    w.both("teardown", stage=fn)


def _on_exception(w: _Writer) -> None:
    """A hook raised: callbacks and the datamodule hear of it; nothing is torn down."""
    w.callbacks("on_exception", exception=_EXCEPTION)
    w.datamodule("on_exception", exception=_EXCEPTION)


# --- fit -------------------------------------------------------------------------------------


def _validation_enabled(s: Scenario) -> bool:
    """Whether fit validates: the model (or datamodule) serves validation data and
    ``limit_val_batches`` is not 0. Loaders that turn out empty still count: the
    loop asks for them and runs no batch."""
    return s.limit_val_batches != 0


def _fit(w: _Writer) -> None:
    s = w.scenario
    restart = w.restart if w.resumed else None
    if _validation_enabled(s) and s.num_sanity_val_steps != 0 and (restart is None or restart.sanity_check):
        _sanity_check(w)
    if s.limit_train_batches == 0:
        return
    w.data("train_dataloader")
    num_batches = _arith.limit_batches(s.train_batches, s.limit_train_batches)
    progress = _Progress()
    if restart is not None:
        progress = _Progress(restart.epoch, restart.global_step, restart.total_batch_idx)
    if num_batches == 0 or _fit_done(s, progress):
        return
    validates_first = _arith.validates_in_epoch(progress.epoch, s.check_val_every_n_epoch)
    if validates_first and _validation_enabled(s) and not w.val_loader_requested:
        # the validation loaders are requested up front when the first epoch validates
        w.data("val_dataloader")
        w.val_loader_requested = True
    w.both("on_train_start")
    while not _fit_done(s, progress):
        first_batch = 0
        if restart is not None and restart.epoch == progress.epoch and restart.batch is not None:
            first_batch = restart.batch  # a mid-epoch restart does not start the epoch again
        else:
            w.both("on_train_epoch_start")
        _train_epoch(w, progress, num_batches, first_batch)
        saves = _saves_at(w, progress.epoch, None)
        # saved at the end of an epoch, a fit resumes with the next epoch, after a sanity check,
        # whether max_epochs or max_steps bounds it (deviation 2 in ORDER.md)
        restart = _Restart(progress.epoch + 1, None, progress.global_step, progress.total_batch_idx, True)
        _event_then_save(w, "on_train_epoch_end", save=restart if saves else None)
        w.batch_idx = None
        progress.epoch += 1
        w.epoch = progress.epoch
    w.both("on_train_end")


def _fit_done(s: Scenario, p: _Progress) -> bool:
    if s.max_steps != -1 and p.global_step >= s.max_steps:
        return True
    return s.max_epochs != -1 and p.epoch >= s.max_epochs


def _sanity_check(w: _Writer) -> None:
    w.callbacks("on_sanity_check_start")
    _evaluate(w, "validation", in_fit=True, sanity=True)
    w.callbacks("on_sanity_check_end")


def _train_epoch(w: _Writer, p: _Progress, num_batches: int, first_batch: int) -> None:
    s = w.scenario
    w.epoch = p.epoch
    for batch_idx in range(first_batch, num_batches):
        w.batch_idx = batch_idx
        p.total_batch_idx += 1
        last = batch_idx + 1 == num_batches
        _transfer(w, 0, w.train_batch)
        w.both("on_train_batch_start", batch=w.train_batch, batch_idx=batch_idx)
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
                w.module("on_validation_model_zero_grad")
            _evaluate(w, "validation", in_fit=True)
        if s.max_steps != -1 and p.global_step >= s.max_steps:
            return


def _optimization(w: _Writer, p: _Progress, batch_idx: int, steps: bool) -> None:
    s = w.scenario
    if s.manual_optimization:
        # the reference model's training_step: zero_grad, manual_backward, step
        w.module("training_step", batch=w.train_batch, batch_idx=batch_idx)
        _backward(w)
        w.both("on_before_optimizer_step", optimizer=_OPTIMIZER)
        p.global_step += 1
        return
    if steps:
        w.module("optimizer_step", epoch=p.epoch, batch_idx=batch_idx, optimizer=_OPTIMIZER, optimizer_closure=_CLOSURE)
    # the closure: the optimizer calls it inside optimizer_step; when accumulating it runs on its own
    w.module("training_step", batch=w.train_batch, batch_idx=batch_idx)
    if _arith.zeroes_grad(batch_idx, s.accumulate_grad_batches):
        w.both("on_before_zero_grad", optimizer=_OPTIMIZER)
        w.module("optimizer_zero_grad", epoch=p.epoch, batch_idx=batch_idx, optimizer=_OPTIMIZER)
    _backward(w)
    if steps:
        w.both("on_before_optimizer_step", optimizer=_OPTIMIZER)
        algorithm = s.gradient_clip_algorithm if s.gradient_clip_val is not None else None
        clip = {"gradient_clip_val": s.gradient_clip_val, "gradient_clip_algorithm": algorithm}
        w.module("configure_gradient_clipping", optimizer=_OPTIMIZER, **clip)
        w.module("clip_gradients", optimizer=_OPTIMIZER, **clip)
        p.global_step += 1


def _backward(w: _Writer) -> None:
    w.both("on_before_backward", loss=_LOSS)
    w.module("backward", loss=_LOSS)
    w.both("on_after_backward")


def _step_schedulers(w: _Writer, *, steps: bool, last: bool) -> None:
    """Schedulers step after the batch's optimisation, before ``on_train_batch_end``:
    per-step ones when the optimizer stepped, per-epoch ones after the epoch's last
    batch. Under manual optimisation the model steps its own schedulers."""
    s = w.scenario
    if s.manual_optimization or s.lr_scheduler is None:
        return
    if (s.lr_scheduler == "step" and steps) or (s.lr_scheduler == "epoch" and last):
        w.module("lr_scheduler_step", scheduler=_SCHEDULER, metric=None)


def _transfer(w: _Writer, dataloader_idx: int, batch: Any = None) -> None:
    batch = w.batch if batch is None else batch
    w.data("on_before_batch_transfer", batch=batch, dataloader_idx=dataloader_idx)
    w.data("transfer_batch_to_device", batch=batch, device=w.device, dataloader_idx=dataloader_idx)
    w.data("on_after_batch_transfer", batch=batch, dataloader_idx=dataloader_idx)


# --- validation, test, predict -----------------------------------------------------------------


def _evaluate(w: _Writer, stage: str, *, in_fit: bool, sanity: bool = False) -> None:
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
        loader_hook = "test_dataloader" if stage == "test" else "val_dataloader"
        if not in_fit or not w.val_loader_requested:
            w.data(loader_hook)
            w.val_loader_requested = w.val_loader_requested or in_fit
        per_loader = _arith.eval_batches(lengths, limit)
        if sanity:
            per_loader = _arith.sanity_batches(per_loader, s.num_sanity_val_steps)
        if sum(per_loader) == 0:
            return
        w.module(f"on_{stage}_model_eval")
        w.training = False
        w.both(f"on_{stage}_start")
        w.both(f"on_{stage}_epoch_start")
        step = "test_step" if stage == "test" else "validation_step"
        for loader_idx, count in enumerate(per_loader):
            extra = {"dataloader_idx": loader_idx} if len(per_loader) > 1 else {}
            for batch_idx in range(count):
                _transfer(w, loader_idx)
                w.both(f"on_{stage}_batch_start", batch=w.batch, batch_idx=batch_idx, **extra)
                w.module(step, batch=w.batch, batch_idx=batch_idx, **extra)
                w.both(f"on_{stage}_batch_end", outputs=_STEP_OUTPUT, batch=w.batch, batch_idx=batch_idx, **extra)
        w.both(f"on_{stage}_epoch_end")
        w.both(f"on_{stage}_end")
        if s.mode_hooks:  # override_only: without an override the trainer restores the modes itself
            w.module(f"on_{stage}_model_train")
        w.training = True
    finally:
        w.grad = outer_grad


def _predict(w: _Writer) -> None:
    s = w.scenario
    outer_grad = w.grad
    w.grad = "inference"
    try:
        _predict_loop(w, s)
    finally:
        w.grad = outer_grad


def _predict_loop(w: _Writer, s: Scenario) -> None:
    if s.limit_predict_batches == 0:
        return
    w.data("predict_dataloader")
    per_loader = _arith.eval_batches(s.predict_batches, s.limit_predict_batches)
    if sum(per_loader) == 0:
        return
    w.module("on_predict_model_eval")
    w.training = False
    w.both("on_predict_start")
    w.both("on_predict_epoch_start")
    for loader_idx, count in enumerate(per_loader):
        extra = {"dataloader_idx": loader_idx} if len(per_loader) > 1 else {}
        for batch_idx in range(count):
            _transfer(w, loader_idx)
            w.both("on_predict_batch_start", batch=w.batch, batch_idx=batch_idx, **extra)
            w.module("predict_step", batch=w.batch, batch_idx=batch_idx, **extra)
            w.both("on_predict_batch_end", outputs=_PREDICTION, batch=w.batch, batch_idx=batch_idx, **extra)
    w.both("on_predict_epoch_end")
    w.both("on_predict_end")
    # the mode before prediction comes back without a hook (there is no on_predict_model_train)
    w.training = True


# --- checkpoints ---------------------------------------------------------------------------


def _saves_at(w: _Writer, epoch: int, batch_idx: int | None) -> bool:
    """Whether the first run of a resume scenario saves here."""
    resume = w.scenario.resume
    return resume is not None and not w.resumed and (resume.epoch, resume.batch) == (epoch, batch_idx)


def _event_then_save(w: _Writer, hook: str, *, save: _Restart | None, **args: Any) -> None:
    """``hook`` on the callbacks and the module; with ``save``, the saving callback
    (the last callback) saves a checkpoint between the two, to resume at ``save``."""
    w.callbacks(hook, **args)
    if save is not None:
        w.restart = save
        _save_checkpoint(w)
    w.module(hook, **args)


def _save_checkpoint(w: _Writer) -> None:
    """What ``trainer.save_checkpoint`` calls: each callback's state, the datamodule's
    state, then ``on_save_checkpoint`` on the callbacks and last on the module."""
    w.callbacks("state_dict")
    w.datamodule("state_dict")
    w.callbacks("on_save_checkpoint", checkpoint=ANY)
    w.module("on_save_checkpoint", checkpoint=ANY)


def _load_checkpoint(w: _Writer) -> None:
    """Restoring from a checkpoint: the module first, then the callbacks (Lightning
    #7535). ``load_state_dict`` runs only for states saved non-empty; the reference
    callbacks and datamodule save none."""
    w.module("on_load_checkpoint", checkpoint=ANY)
    w.callbacks("on_load_checkpoint", checkpoint=ANY)
