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
from typing import TYPE_CHECKING, Any

import torch
from typing_extensions import final

from loophooks.engine._data import END, BatchIterator
from loophooks.engine._errors import ConfigurationError, HookValueError
from loophooks.engine._fused_step import fused_batch
from loophooks.engine._lightning_options import can_stop_early
from loophooks.engine._step import Closure
from loophooks.spec._checks import RETURN_HINTS

if TYPE_CHECKING:
    from loophooks.engine._context import LoopContext
    from loophooks.engine._fit_loop import FitLoop

__all__ = ["TrainingEpochLoop"]

_BATCH_START_EXPECTED = "None or -1 (" + RETURN_HINTS["on_train_batch_start"] + ")"


@final
class TrainingEpochLoop:
    """Runs the batches of one training epoch (see the module docstring for the order)."""

    def __init__(self, ctx: LoopContext, fit: FitLoop) -> None:
        self.ctx = ctx
        self.fit = fit
        self.accumulate = ctx.trainer.accumulate_grad_batches
        self.ready = 0  # batches fetched this epoch (Lightning's batch_progress.current.ready)
        self.in_batch_end = False
        self._closure = Closure(ctx, self.accumulate)
        self._takes_idx = True
        self._warned_none = False

    # --- Lightning's predicates ----------------------------------------------------------------------
    def num_ready_batches_reached(self) -> bool:
        return self.ready == self.fit.max_batches or self.ctx.state.is_last_batch

    def should_accumulate(self) -> bool:
        return self.ready % self.accumulate != 0 and not self.num_ready_batches_reached()

    def done(self) -> bool:
        state = self.ctx.state
        max_steps = self.ctx.trainer.max_steps
        if max_steps != -1 and state.global_step >= max_steps:
            return True
        if self.ready == self.fit.max_batches or state.is_last_batch:
            return True
        return state.should_stop and can_stop_early(self.ctx.trainer)  # min_epochs/min_steps hold a stop back

    # --- the epoch -------------------------------------------------------------------------------------
    def run(self, batches: BatchIterator) -> None:
        ctx = self.ctx
        # read per epoch: GradientAccumulationScheduler changes it in on_train_epoch_start
        self.accumulate = self._closure.accumulate = ctx.trainer.accumulate_grad_batches
        state = ctx.state
        trainer = ctx.trainer
        d = ctx.dispatcher()
        transfer = ctx.data.transfer
        automatic = ctx.strategy.automatic
        # Schedulers step only under automatic optimization (Lightning's rule); without any, skip the checks.
        schedulers = automatic and bool(ctx.strategy.lr_scheduler_configs)
        batch_start = "on_train_batch_start" in d.active
        batch_end = "on_train_batch_end" in d.active
        self._takes_idx = d.takes_batch_idx("training_step")
        closure = self._closure
        closure.bind()
        # the outputs (the detached loss) are built only when on_train_batch_end receives them
        closure.keep_output = batch_end or not closure.fused
        self.ready = ready = state.batches_done
        state.is_last_batch = False
        metrics = ctx.metrics
        store = metrics.store()  # the training store: the same object all epoch, validation or not
        assert store is not None  # the stage is "train"
        # The per-batch bookkeeping of metrics.on_batch_start/on_batch_end, inlined below: the store holds the
        # batch (for batch-size inference) while it runs, and Lightning's _first_loop_iter goes None -> True ->
        # False over the loop's first two batches (the full method runs for those two), then stays False.
        full_batch_starts = 2
        signals = ctx.signals
        fit = self.fit
        max_batches = fit.max_batches
        accumulate = self.accumulate
        # A sized loader's batches come straight from its iterator (the last is the max_batches-th); a profiled
        # run times fetch() (engine/_profiler_actions.py) and an unsized loader looks one batch ahead there.
        source = batches.source() if type(batches) is BatchIterator else None
        # A profiled run times _automatic as Lightning's run_training_batch; otherwise the batch runs without that
        # frame, straight-line when its optimization is all defaults (engine/_fused_step.py).
        run_batch = self._automatic if "_automatic" in vars(self) else (fused_batch(closure) or closure.run_batch)
        while True:
            # done(), inlined: this runs per batch
            max_steps = trainer.max_steps
            if (max_steps != -1 and state.global_step >= max_steps) or ready == max_batches or state.is_last_batch:
                break
            if state.should_stop and can_stop_early(trainer):  # min_epochs/min_steps hold a stop back
                break
            if signals.received_sigterm:  # engine/_signals.py: stop between batches, never inside one
                signals.check()
            if source is not None:
                batch = next(source, END)
                if batch is END:
                    break
                state.is_last_batch = ready + 1 >= max_batches
            else:
                batch = batches.fetch()
                if batch is END:
                    break
                state.is_last_batch = batches.is_last
            batch_idx = state.batch_idx = ready
            state.total_batch_idx += 1
            batch = transfer(batch, 0)
            ready = self.ready = batch_idx + 1
            if full_batch_starts:
                full_batch_starts -= 1
                metrics.on_batch_start(store, batch)
            else:
                store.batch = batch
            response = d.hook("on_train_batch_start", batch, batch_idx) if batch_start and batch is not None else None
            # should_accumulate() inlined (is_last_batch changes only on the -1 path, which ends the epoch)
            accumulating = ready % accumulate != 0 and not (ready == max_batches or state.is_last_batch)
            if response is not None:
                if response != -1 or isinstance(response, bool):
                    raise HookValueError("on_train_batch_start", "return value", _BATCH_START_EXPECTED, response)
                state.is_last_batch = True
                if schedulers:
                    self._step_schedulers()
                break
            if batch is None:  # the loader yielded None (Lightning): no batch-start hooks, no step; the batch ends
                output: Any = None
                self._warn_none_batch(batch_idx)
            elif automatic:
                output = run_batch(batch, batch_idx, accumulating)
            else:
                output = self._manual(batch, batch_idx)
            if schedulers:
                self._step_schedulers()
            if batch_end:
                self.in_batch_end = True
                try:
                    d.hook("on_train_batch_end", output, batch, batch_idx)
                finally:
                    self.in_batch_end = False
            state.batches_done += 1
            if store.entries:  # something was logged this epoch: merge it (metrics.on_batch_end)
                metrics.on_batch_end(store)
            else:  # nothing to merge, and no batch size was inferred: on_batch_end's remaining work
                store.batch = None
            if metrics.loggers:  # update_train_step_metrics does nothing without loggers
                metrics.update_train_step_metrics(accumulating and automatic)
            if fit.validation and fit.should_check_val():  # should_check_val's first test, without its call
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

    def _warn_none_batch(self, batch_idx: int) -> None:
        if not self._warned_none:  # once per fit (Lightning: once per Trainer, whose loops outlive a fit)
            self._warned_none = True
            warnings.warn(
                f"train_dataloader yielded None (batch {batch_idx}): the batch is skipped (no on_train_batch_start, "
                "no training_step or optimizer step; on_train_batch_end receives None). If this was on purpose, "
                "ignore this warning.",
                UserWarning,
                stacklevel=2,
            )

    def _step_schedulers(self) -> None:
        """The schedulers due after a batch's optimizer step ('epoch' ones on the epoch's last batch)."""
        self.update_lr_schedulers("step", plateau=False)
        if self.num_ready_batches_reached():
            self.update_lr_schedulers("epoch", plateau=False)

    def _automatic(self, batch: Any, batch_idx: int, accumulating: bool) -> dict[str, Any]:
        """One batch under automatic optimization (engine/_step.py); a method here, so that a profiled run
        times it as Lightning's ``run_training_batch`` (engine/_profiler_actions.py)."""
        return self._closure.run_batch(batch, batch_idx, accumulating)

    def _manual(self, batch: Any, batch_idx: int) -> dict[str, Any]:
        ctx = self.ctx
        args = (batch, batch_idx) if self._takes_idx else (batch,)
        output = ctx.strategy.step(ctx.dispatcher().module_hook, "training_step", *args)
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
        ctx = self.ctx
        configs = ctx.strategy.lr_scheduler_configs
        if not configs or not ctx.strategy.automatic:
            return
        if interval == "step" and self.should_accumulate():
            return
        state = ctx.state
        trainer = ctx.trainer
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
            ctx.dispatcher().module_hook("lr_scheduler_step", config.scheduler, metric)
