"""Fit: the sanity check, then epochs until max_epochs, max_steps or should_stop.

    on_sanity_check_start                     # callbacks only; when validation is on
        validation on num_sanity_val_steps batches (RNG state restored afterwards)
    on_sanity_check_end
    train_dataloader
    on_train_start
    for each epoch:
        on_train_epoch_start
        the epoch's batches (TrainingEpochLoop), with validation when due
        on_train_epoch_end                    # callbacks, model, then checkpointing/early stopping
        ReduceLROnPlateau 'epoch' schedulers
        current_epoch += 1
    on_train_end

Nothing of this runs when there are no training batches (limit 0, empty loader,
or no ``training_step``), or when max_epochs/max_steps are already reached.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Optional, Union

import torch
from typing_extensions import final

from loophooks.engine._combined import CombinedLoader, TrainBatches, combine_training
from loophooks.engine._data import BatchIterator, as_loader_list, loader_length, num_batches
from loophooks.engine._epoch_loop import TrainingEpochLoop
from loophooks.engine._errors import ConfigurationError
from loophooks.engine._eval_loop import EvalLoop
from loophooks.engine._lightning_options import can_stop_early, sequential_loader
from loophooks.engine._resume_state import capture_random, restore_grads, restore_random

if TYPE_CHECKING:
    from loophooks.engine._context import LoopContext

__all__ = ["FitLoop", "ResumePoint"]

Number = Union[int, float]
INF = float("inf")


@final
class ResumePoint:
    """Where a restored fit continues: from the checkpoint's ``loops`` entry."""

    __slots__ = ("batches_done", "epoch_random", "epoch_rng", "grads", "mid_epoch", "random", "rng")

    def __init__(
        self,
        batches_done: int,
        mid_epoch: bool,
        epoch_rng: Any,
        rng: Any,
        epoch_random: Any = None,
        random: Any = None,
        grads: Any = None,
    ) -> None:
        self.batches_done = batches_done
        self.mid_epoch = mid_epoch
        self.epoch_rng = epoch_rng
        self.rng = rng
        # Python's, NumPy's and the loader's generators (engine/_resume_state.py), at the epoch's start and the save
        self.epoch_random = epoch_random
        self.random = random
        self.grads = grads  # gradients of an accumulation window the checkpoint interrupted


def _set_sampler_epoch(loader: Any, epoch: int) -> None:
    """Tell (distributed) samplers which epoch it is, so shuffling differs per epoch."""
    if isinstance(loader, TrainBatches):
        for each in loader.combined.flattened:
            _set_sampler_epoch(each, epoch)
        return
    outer = getattr(loader, "sampler", None)
    inner = getattr(getattr(loader, "batch_sampler", None), "sampler", None)
    for sampler in (outer,) if inner is outer else (outer, inner):  # a DataLoader's two usually are one
        set_epoch = getattr(sampler, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)


@final
class FitLoop:
    batches = BatchIterator  # a profiled run times next() on this loop (engine/_profiler_actions.py)

    def __init__(self, ctx: LoopContext) -> None:
        self.ctx = ctx
        self.loader: Any = None
        self.max_batches: Number = INF
        self.val_check_batch: Number = INF
        self.val_loop = EvalLoop(ctx, "validation")
        self.epoch_loop = TrainingEpochLoop(ctx, self)
        self.resume: Optional[ResumePoint] = None
        self.epoch_rng: Optional[torch.Tensor] = None
        self.epoch_random: Optional[dict[str, Any]] = None
        self.in_epoch_end = False
        self.validation: Optional[bool] = None
        # the epochs the training and validation loaders were last requested in (reload_dataloaders_every_n_epochs)
        self._train_loaded: Optional[int] = None
        self._val_loaded: Optional[int] = None

    def _reload_due(self, last: Optional[int]) -> bool:
        """Lightning's rule: request the loaders again once ``reload_dataloaders_every_n_epochs`` epochs passed."""
        n = self.ctx.trainer.reload_dataloaders_every_n_epochs
        return bool(n) and last is not None and self.ctx.state.epoch - last >= n

    # --- data ------------------------------------------------------------------------------------------
    def setup_data(self) -> None:
        ctx = self.ctx
        trainer = ctx.trainer
        if self.loader is not None:
            return
        if trainer.limit_train_batches == 0 or not ctx.dispatcher().has("training_step"):
            return
        given = ctx.data.request("train_dataloader")
        try:
            combined = combine_training(given)  # several loaders: read together (engine/_combined.py)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        if combined is not None:
            self._setup_combined(combined)
            return
        loaders = as_loader_list(given, "train_dataloader")
        if not loaders:
            raise ConfigurationError(
                "fit needs training data: train_dataloader returned None and no train_dataloaders were passed; "
                "expected a DataLoader or another iterable"
            )
        if len(loaders) != 1:
            raise ConfigurationError(f"fit takes one training loader; received {len(loaders)}")
        self.loader = loaders[0]
        if trainer.overfit_batches > 0:  # the same batches every epoch, as Lightning
            self.loader = sequential_loader(self.loader, "overfit_batches")
        length = loader_length(self.loader)
        if length == 0:  # the spec's zero-length rule: fit runs, without any training hook; say so
            warnings.warn(
                "train_dataloader has 0 batches: fit runs no training epoch (no on_train_start, no training_step)",
                UserWarning,
                stacklevel=2,
            )
        self.max_batches = num_batches(length, trainer.limit_train_batches, "limit_train_batches")
        self._setup_val_check()

    def _setup_combined(self, combined: CombinedLoader) -> None:
        """Several training loaders: each limited by ``limit_train_batches``, the length as the mode combines them."""
        trainer = self.ctx.trainer
        if trainer.overfit_batches > 0:
            combined.flattened = [sequential_loader(dl, "overfit_batches") for dl in combined.flattened]
        combined.limits = [
            num_batches(loader_length(dl), trainer.limit_train_batches, "limit_train_batches")
            for dl in combined.flattened
        ]
        self.loader = TrainBatches(combined)
        self.max_batches = loader_length(self.loader)
        self._setup_val_check()

    def _setup_val_check(self) -> None:
        trainer = self.ctx.trainer
        if self.max_batches == 0:
            return
        interval = trainer.val_check_interval
        if isinstance(interval, int) and not isinstance(interval, bool):
            self.val_check_batch = interval
            if (
                interval > self.max_batches
                and trainer.check_val_every_n_epoch is not None
                and trainer.limit_val_batches
            ):
                raise ConfigurationError(
                    f"val_check_interval ({interval}) must not exceed the training batches ({self.max_batches}); "
                    "set check_val_every_n_epoch=None to count batches across epochs"
                )
        elif self.max_batches == INF:
            if interval != 1.0:
                raise ConfigurationError("val_check_interval must be 1.0 or an int for a loader without a length")
            self.val_check_batch = INF
        else:
            self.val_check_batch = max(1, int(self.max_batches * interval))

    def estimated_stepping_batches(self) -> Number:
        """Lightning's estimate of the optimizer steps of a fit; before a run there is no loader to ask.

        Before a run the batches are unknown and the answer is ``max_steps``, as in Lightning.
        """
        trainer = self.ctx.trainer
        max_steps, max_epochs = trainer.max_steps, trainer.max_epochs
        if max_epochs == -1:
            return INF if max_steps == -1 else max_steps
        if self.loader is None and self.ctx.dispatch is not None:
            self.setup_data()
        if self.max_batches == INF:  # a loader without a length, or none yet: Lightning answers max_steps
            return max_steps
        steps = -(-int(self.max_batches) // trainer.accumulate_grad_batches) * max(max_epochs, 1)
        return min(steps, max_steps) if max_steps != -1 else steps

    # --- predicates ------------------------------------------------------------------------------------
    def done(self) -> bool:
        trainer = self.ctx.trainer
        state = self.ctx.state
        if self.max_batches == 0:
            return True
        if trainer.max_steps != -1 and state.global_step >= trainer.max_steps:
            return True
        if trainer.max_epochs != -1 and state.epoch >= trainer.max_epochs:
            return True
        return state.should_stop and can_stop_early(trainer)  # min_epochs/min_steps hold a stop back

    def should_check_val_epoch(self) -> bool:
        n = self.ctx.trainer.check_val_every_n_epoch
        if self.validation is None:  # looked up once per fit: it inspects the model and the datamodule
            self.validation = self._validation_enabled()
        return self.validation and (n is None or (self.ctx.state.epoch + 1) % n == 0)

    def _validation_enabled(self) -> bool:
        return self.ctx.data.validation_enabled(self.ctx.trainer.limit_val_batches)

    def should_check_val(self) -> bool:
        """Lightning's ``_should_check_val_fx``, after a training batch."""
        if not self.validation:  # validation is off for this fit (looked up in run)
            return False
        trainer = self.ctx.trainer
        state = self.ctx.state
        n = trainer.check_val_every_n_epoch
        if n is not None and (state.epoch + 1) % n != 0:
            return False
        infinite = self.val_check_batch == INF
        if state.is_last_batch and infinite:
            return True
        if state.should_stop and can_stop_early(trainer):
            return True
        check = state.is_last_batch
        if isinstance(trainer.limit_train_batches, int) and infinite:
            check = (state.batch_idx + 1) % trainer.limit_train_batches == 0
        elif not infinite:
            current = state.total_batch_idx if trainer.check_val_every_n_epoch is None else state.batch_idx
            check = (current + 1) % self.val_check_batch == 0
        return check

    # --- running ---------------------------------------------------------------------------------------
    def run_validation(self, zero_grad: bool) -> None:
        state = self.ctx.state
        state.stage = "validate"
        if self._reload_due(self._val_loaded):  # the validation loop asks for its loaders again
            self.val_loop.loaders = None
            self._val_loaded = state.epoch
        try:
            if zero_grad:
                self.ctx.dispatcher().module_hook("on_validation_model_zero_grad")
            self.val_loop.run()
        finally:
            state.stage = "train"

    def run_sanity_check(self) -> None:
        ctx = self.ctx
        if not (self._validation_enabled() and ctx.trainer.num_sanity_val_steps != 0):
            return
        # A fit resumed mid-epoch continues without one (Lightning's rule; spec/ORDER.md "Where the resumed fit
        # continues"). Lightning also skips it on end-of-epoch resumes under max_steps: the spec does not.
        if self.resume is not None and self.resume.mid_epoch:
            return
        state = ctx.state
        d = ctx.dispatcher()
        rng = _RngState.capture()
        state.stage = "sanity_check"
        metrics = ctx.metrics
        try:
            metrics.reset_results()  # the sanity check's values are published nowhere (Lightning)
            metrics.reset_metrics()
            d.callback_hooks("on_sanity_check_start")
            self.val_loop.run(sanity=True)
            d.callback_hooks("on_sanity_check_end")
            metrics.reset_results()
            metrics.reset_metrics()
        finally:
            state.stage = "train"
            rng.restore()

    def run(self) -> None:
        ctx = self.ctx
        state = ctx.state
        d = ctx.dispatcher()
        self.setup_data()
        self._train_loaded = self._val_loaded = state.epoch
        if self.done() or ctx.trainer.limit_train_batches == 0:
            return
        torch.set_grad_enabled(True)
        self.validation = self._validation_enabled()
        if self.should_check_val_epoch() and self.val_loop.loaders is None:
            state.stage = "validate"  # Lightning asks for the loaders here with grad enabled
            self.val_loop.setup_data()
            state.stage = "train"
        d.hook("on_train_start")
        while not self.done():
            self.run_epoch()
        d.hook("on_train_end")

    def run_epoch(self) -> None:
        ctx = self.ctx
        state = ctx.state
        d = ctx.dispatcher()
        if self._reload_due(self._train_loaded):  # before on_train_epoch_start, as Lightning
            self.loader = None
            self.setup_data()
            self._train_loaded = state.epoch
        _set_sampler_epoch(self.loader, state.epoch)
        resume, self.resume = self.resume, None
        if resume is not None and resume.mid_epoch:
            # Continue the interrupted epoch: same shuffling, the consumed batches skipped, then the RNG as saved.
            state.batches_done = resume.batches_done
            state.epoch_open = True
            if resume.epoch_rng is not None:
                torch.set_rng_state(resume.epoch_rng)
            restore_random(resume.epoch_random, self.loader)
            self.epoch_rng = torch.get_rng_state()
            self.epoch_random = capture_random(self.loader)
            batches = self.batches(self.loader, self.max_batches, skip=resume.batches_done)
            if resume.rng is not None:
                torch.set_rng_state(resume.rng)
            restore_random(resume.random, self.loader)
            module = ctx.strategy.module
            if resume.grads and isinstance(module, torch.nn.Module):
                # after the run's zero_grad, before the window's next batch adds to them
                restore_grads(module, resume.grads)
        else:
            if resume is not None and resume.rng is not None:
                torch.set_rng_state(resume.rng)
            if resume is not None:
                restore_random(resume.random, self.loader)
            state.batches_done = 0
            d.hook("on_train_epoch_start")
            state.epoch_open = True
            self.epoch_rng = torch.get_rng_state()
            self.epoch_random = capture_random(self.loader)
            batches = self.batches(self.loader, self.max_batches)
        self.epoch_loop.run(batches)
        self.end_epoch()
        ctx.signals.check()  # engine/_signals.py: a SIGTERM during the epoch's end stops here

    def end_epoch(self) -> None:
        ctx = self.ctx
        state = ctx.state
        d = ctx.dispatcher()
        self.in_epoch_end = True
        metrics = ctx.metrics
        try:
            metrics.epoch_end_reached()  # reads of the metric dicts now give epoch values
            d.hook("on_train_epoch_end")  # callbacks, model, then checkpointing/early stopping (CALLERS)
            metrics.on_epoch_end()
            if self.epoch_loop.num_ready_batches_reached():
                self.epoch_loop.update_lr_schedulers("epoch", plateau=True)
            # the epoch's values go to the loggers at the last batch's step (Lightning), then the store resets
            metrics.batches_that_stepped -= 1
            metrics.update_train_epoch_metrics()
            metrics.batches_that_stepped += 1
        finally:
            self.in_epoch_end = False
        state.epoch += 1
        state.epoch_open = False
        state.batches_done = 0
        state.batch_idx = -1


@final
class _RngState:
    """The global RNG states, so the sanity check leaves training's randomness untouched."""

    __slots__ = ("cpu", "cuda")

    def __init__(self, cpu: torch.Tensor, cuda: Optional[list[torch.Tensor]]) -> None:
        self.cpu = cpu
        self.cuda = cuda

    @classmethod
    def capture(cls) -> _RngState:
        started = torch.cuda.is_available() and torch.cuda.is_initialized()  # type: ignore[no-untyped-call]
        cuda = torch.cuda.get_rng_state_all() if started else None
        return cls(torch.get_rng_state(), cuda)

    def restore(self) -> None:
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state_all(self.cuda)
