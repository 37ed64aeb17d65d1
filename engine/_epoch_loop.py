"""One training epoch, batch by batch.

    for each batch (until the epoch's batches, max_steps or should_stop):
        on_before_batch_transfer, transfer_batch_to_device, on_after_batch_transfer
        on_train_batch_start                  # callbacks, then model; -1 ends the epoch here
        automatic optimization:
            when the batch closes an accumulation window:
                optimizer_step(epoch, batch_idx, optimizer, closure)   # global_step += 1
                    closure: training_step, [on_before_zero_grad, optimizer_zero_grad]
                             on_before_backward, backward, on_after_backward
                    then:    on_before_optimizer_step, configure_gradient_clipping, the step
            otherwise the closure runs alone (gradients accumulate)
        manual optimization: training_step (the model steps its optimizers)
        lr_scheduler_step for 'step' schedulers (and 'epoch' ones on the epoch's last batch)
        on_train_batch_end                    # skipped when on_train_batch_start returned -1
        validation, when due (on_validation_model_zero_grad first, unless accumulating)
        ReduceLROnPlateau 'step' schedulers

Zeroing happens on the first batch of each accumulation window; the loss is
divided by ``accumulate_grad_batches`` before backward.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn, Optional

import torch
from typing_extensions import final

from loophooks.engine._data import BatchIterator
from loophooks.engine._errors import ConfigurationError, HookValueError, add_note
from loophooks.engine._lightning_options import can_stop_early
from loophooks.spec._checks import RETURN_HINTS

if TYPE_CHECKING:
    from loophooks.engine._fit_loop import FitLoop
    from loophooks.engine._trainer import Trainer

__all__ = ["TrainingEpochLoop"]

_BATCH_START_EXPECTED = "None or -1 (" + RETURN_HINTS["on_train_batch_start"] + ")"


@final
class _Closure:
    """``training_step`` + zero_grad + backward, handed to ``optimizer_step``; reused for every batch."""

    __slots__ = ("args", "batch_idx", "extra", "loss", "loop", "ran", "zero_grad")

    def __init__(self, loop: TrainingEpochLoop) -> None:
        self.loop = loop
        self.args: tuple[Any, ...] = ()
        self.batch_idx = 0
        self.zero_grad = False
        self.loss: Optional[torch.Tensor] = None
        self.extra: Optional[dict[str, Any]] = None
        self.ran = False  # set by each call: optimizer_step must run the closure (Lightning raises otherwise)

    def __call__(self) -> Optional[torch.Tensor]:
        if not torch.is_grad_enabled():  # a hook switched grad off; the closure needs it (cheap check, rare path)
            with torch.enable_grad():
                return self()
        self.ran = True
        loop = self.loop
        trainer = loop.trainer
        d = trainer._dispatch
        strategy = trainer._strategy
        if strategy.direct_steps:
            output = d.module_hook("training_step", *self.args)
        else:
            output = strategy.step(d.module_hook, "training_step", *self.args)
        if isinstance(output, torch.Tensor):
            closure_loss: Optional[torch.Tensor] = output
            self.extra = None
        elif output is None:
            closure_loss = None
            self.extra = None
            warnings.warn("training_step returned None; the batch is skipped", stacklevel=2)
        elif isinstance(output, Mapping):
            closure_loss = output.get("loss")
            if not isinstance(closure_loss, torch.Tensor):
                _bad_output(trainer, "a dict with a tensor under 'loss'", output)
            self.extra = {k: v for k, v in output.items() if k != "loss"}
        else:
            _bad_output(trainer, "a Tensor, a dict with 'loss', or None", output)
        if closure_loss is not None:
            # backward needs one element attached to the graph: say so here, not in autograd's words
            if closure_loss.numel() != 1 or not closure_loss.requires_grad:
                _bad_loss(closure_loss, trainer)
            if trainer.terminate_on_nan and not bool(torch.isfinite(closure_loss).all()):
                _bad_loss(closure_loss, trainer, finite=True)
            if loop.accumulate > 1:
                closure_loss = closure_loss / loop.accumulate
        self.loss = closure_loss.detach() if closure_loss is not None else None
        optimizer = strategy.optimizers[0]
        if self.zero_grad:
            if "on_before_zero_grad" in d.active:
                d.hook("on_before_zero_grad", optimizer)
            d.module_hook("optimizer_zero_grad", trainer.state.epoch, self.batch_idx, optimizer)
        if closure_loss is not None:
            strategy.backward(closure_loss, optimizer)
        return self.loss


def _bad_output(trainer: Trainer, expected: str, output: Any) -> NoReturn:
    """Raise the error for a ``training_step`` return the loop cannot use.

    Noted as ``training_step``'s before it leaves the closure: ``optimizer_step``
    runs the closure, and its note would otherwise be the first (and only) one.
    """
    error = HookValueError("training_step", "return value", expected, output)
    add_note(error, f"training_step's return value at {trainer.state.where()}")
    raise error


def _bad_loss(loss: torch.Tensor, trainer: Trainer, finite: bool = False) -> None:
    """Raise the error for a loss that backward cannot (or, with ``terminate_on_nan``, must not) use."""
    if finite:
        expected = "finite (Trainer(terminate_on_nan=True) stops on NaN or inf)"
    elif loss.numel() != 1:
        expected = f"a scalar tensor (one element), not shape {tuple(loss.shape)}"
    else:
        expected = "a tensor that requires grad (computed from the parameters, not detached or made with torch.tensor)"
    error = HookValueError("training_step", "loss", expected, loss)
    add_note(error, f"training_step's loss at {trainer.state.where()}")
    raise error


def _closure_not_called(trainer: Trainer) -> NoReturn:
    """An ``optimizer_step`` that never ran its closure: nothing was trained, so say so (as Lightning does)."""
    model = type(trainer._strategy.module).__name__
    error = ConfigurationError(
        f"{model}.optimizer_step returned without calling optimizer_closure: training_step and backward never ran, "
        "so this step trained nothing. Call optimizer.step(closure=optimizer_closure) (or optimizer_closure()) "
        "in optimizer_step, and use an optimizer whose step calls the closure."
    )
    add_note(error, f"model hook optimizer_step at {trainer.state.where()}")
    raise error


@final
class TrainingEpochLoop:
    """Runs the batches of one training epoch (see the module docstring for the order)."""

    def __init__(self, trainer: Trainer, fit: FitLoop) -> None:
        self.trainer = trainer
        self.fit = fit
        self.accumulate = trainer.accumulate_grad_batches
        self.ready = 0  # batches fetched this epoch (Lightning's batch_progress.current.ready)
        self.in_batch_end = False
        self._closure = _Closure(self)
        self._takes_idx = True

    # --- Lightning's predicates ----------------------------------------------------------------------
    def num_ready_batches_reached(self) -> bool:
        return self.ready == self.fit.max_batches or self.trainer.state.is_last_batch

    def should_accumulate(self) -> bool:
        return self.ready % self.accumulate != 0 and not self.num_ready_batches_reached()

    def _max_steps_reached(self) -> bool:
        max_steps = self.trainer.max_steps
        return max_steps != -1 and self.trainer.state.global_step >= max_steps

    def done(self) -> bool:
        state = self.trainer.state
        max_steps = self.trainer.max_steps
        if max_steps != -1 and state.global_step >= max_steps:
            return True
        if self.ready == self.fit.max_batches or state.is_last_batch:
            return True
        return state.should_stop and can_stop_early(self.trainer)  # min_epochs/min_steps hold a stop back

    # --- the epoch -------------------------------------------------------------------------------------
    def run(self, batches: BatchIterator) -> None:
        trainer = self.trainer
        state = trainer.state
        d = trainer._dispatch
        automatic = trainer._strategy.automatic
        # Schedulers step only under automatic optimization (Lightning's rule); without any, skip the checks.
        schedulers = automatic and bool(trainer._strategy.lr_scheduler_configs)
        batch_start = "on_train_batch_start" in d.active
        batch_end = "on_train_batch_end" in d.active
        self._takes_idx = trainer._takes_batch_idx("training_step")
        self.ready = state.batches_done
        state.is_last_batch = False
        metrics = trainer._metrics
        while not self.done():
            try:
                batch = next(batches)
            except StopIteration:
                break
            batch_idx = self.ready
            state.batch_idx = batch_idx
            state.total_batch_idx += 1
            state.is_last_batch = batches.is_last
            batch = trainer._transfer(batch, 0)
            self.ready += 1
            metrics.on_batch_start(batch)
            response = d.hook("on_train_batch_start", batch, batch_idx) if batch_start else None
            skip_rest = False
            if response is not None:
                if response != -1 or isinstance(response, bool):
                    raise HookValueError("on_train_batch_start", "return value", _BATCH_START_EXPECTED, response)
                skip_rest = True
                state.is_last_batch = True
                output: Any = None
            elif automatic:
                output = self._automatic(batch, batch_idx)
            else:
                output = self._manual(batch, batch_idx)
            if schedulers:
                self.update_lr_schedulers("step", plateau=False)
                if self.num_ready_batches_reached():
                    self.update_lr_schedulers("epoch", plateau=False)
            if skip_rest:
                break
            if batch_end:
                self.in_batch_end = True
                try:
                    d.hook("on_train_batch_end", output, batch, batch_idx)
                finally:
                    self.in_batch_end = False
            state.batches_done += 1
            metrics.on_batch_end()
            accumulating = self.should_accumulate()
            metrics.update_train_step_metrics(accumulating and automatic)
            if self.fit.should_check_val():
                first_loop_iter = metrics.first_loop_iter  # validation inside the epoch leaves it as it was
                self.fit.run_validation(zero_grad=not accumulating)
                metrics.first_loop_iter = first_loop_iter
            if schedulers:
                self.update_lr_schedulers("step", plateau=True)
            if not accumulating:
                metrics.batches_that_stepped += 1  # the loggers' step counts batches that stepped
            if state.should_stop and metrics.loggers:
                for logger in metrics.loggers:
                    logger.save()

    def _automatic(self, batch: Any, batch_idx: int) -> dict[str, Any]:
        trainer = self.trainer
        closure = self._closure
        closure.args = (batch, batch_idx) if self._takes_idx else (batch,)
        closure.batch_idx = batch_idx
        closure.zero_grad = batch_idx % self.accumulate == 0
        if self.should_accumulate():
            with trainer._strategy.block_backward_sync():  # DDP: no all-reduce until the stepping batch
                closure()
        else:
            strategy = trainer._strategy
            closure.ran = False
            trainer._dispatch.module_hook(
                "optimizer_step", trainer.state.epoch, batch_idx, strategy.loop_optimizers[0], closure
            )
            if not closure.ran:
                _closure_not_called(trainer)
            trainer.state.global_step += 1
        loss = closure.loss
        closure.loss = None
        if loss is None:
            return {}
        extra = closure.extra
        return {"loss": loss} if not extra else {"loss": loss, **extra}

    def _manual(self, batch: Any, batch_idx: int) -> dict[str, Any]:
        trainer = self.trainer
        args = (batch, batch_idx) if self._takes_idx else (batch,)
        output = trainer._strategy.step(trainer._dispatch.module_hook, "training_step", *args)
        if output is None:
            return {}
        if isinstance(output, torch.Tensor):
            return {"loss": output.detach()}
        if isinstance(output, Mapping):
            result = dict(output)
            if isinstance(result.get("loss"), torch.Tensor):
                result["loss"] = result["loss"].detach()
            return result
        raise HookValueError("training_step", "return value", "a Tensor, a dict, or None (manual optimization)", output)

    def update_lr_schedulers(self, interval: str, plateau: bool) -> None:
        """Step the schedulers whose interval (and frequency) is due, as Lightning does."""
        trainer = self.trainer
        configs = trainer._strategy.lr_scheduler_configs
        if not configs or not trainer._strategy.automatic:
            return
        if interval == "step" and self.should_accumulate():
            return
        state = trainer.state
        for config in configs:
            if plateau != config.reduce_on_plateau:
                continue
            idx = (state.batch_idx if interval == "step" else state.epoch) + 1
            if config.interval != interval or idx % config.frequency != 0:
                continue
            metric = None
            if config.reduce_on_plateau:
                assert config.monitor is not None
                metric = trainer.callback_metrics.get(config.monitor)
                if metric is None:
                    if config.strict:
                        raise ConfigurationError(
                            f"ReduceLROnPlateau monitors {config.monitor!r}, which was not logged; "
                            f"logged metrics: {sorted(trainer.callback_metrics)}"
                        )
                    warnings.warn(f"ReduceLROnPlateau metric {config.monitor!r} missing; not stepping", RuntimeWarning)
                    continue
            trainer._dispatch.module_hook("lr_scheduler_step", config.scheduler, metric)
