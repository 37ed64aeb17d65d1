"""Prediction.

    setup_data                                            # predict_dataloader
    on_predict_model_eval                                 # model only
    on_predict_start, on_predict_epoch_start              # callbacks, then model
    for each loader, for each batch:
        on_before_batch_transfer, transfer_batch_to_device, on_after_batch_transfer
        on_predict_batch_start, predict_step, on_predict_batch_end
    on_predict_epoch_end, on_predict_end
    the model's modes are restored (there is no on_predict_model_train hook call)

Runs under ``torch.inference_mode``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import torch
from typing_extensions import final

from loophooks.engine._data import BatchIterator, as_loader_list, loader_length, num_batches
from loophooks.engine._eval_loop import capture_modes, restore_modes
from loophooks.engine._lightning_options import grad_context
from loophooks.spec._transfer import move_data_to_device

if TYPE_CHECKING:
    from loophooks.engine._context import LoopContext

__all__ = ["PredictLoop"]


@final
class PredictLoop:
    batches = BatchIterator  # a profiled run times next() on this loop (engine/_profiler_actions.py)

    def __init__(self, ctx: LoopContext) -> None:
        self.ctx = ctx
        # what BasePredictionWriter reads (Lightning's predict_loop members)
        self.current_batch_indices: list[int] = []
        self.epoch_batch_indices: list[list[list[int]]] = []
        self._predictions: list[list[Any]] = []
        self.loaders: Optional[list[Any]] = None  # trainer.predict_dataloaders
        self.max_batches: list[Any] = []  # trainer.num_predict_batches: each loader's batches, after the limit

    @property
    def predictions(self) -> Any:
        """Every prediction so far: a list per loader, or one list when there is one loader."""
        if not self._predictions:
            return self._predictions
        return self._predictions[0] if len(self._predictions) == 1 else self._predictions

    def run(self, return_predictions: bool) -> Any:
        self.ctx.trainer._predict_loop = self
        with grad_context(self.ctx.trainer):  # Trainer(inference_mode=...): inference_mode or no_grad
            return self._run(return_predictions)

    def _run(self, return_predictions: bool) -> Any:
        ctx = self.ctx
        trainer = ctx.trainer
        d = ctx.dispatcher()
        state = ctx.state
        strategy = ctx.strategy
        transfer = ctx.data.transfer
        if trainer.limit_predict_batches == 0:
            return None
        loaders = as_loader_list(ctx.data.request("predict_dataloader"), "predict_dataloader")
        self.loaders = loaders
        limits = [
            num_batches(loader_length(dl), trainer.limit_predict_batches, "limit_predict_batches") for dl in loaders
        ]
        self.max_batches = limits
        if not loaders or sum(limits) == 0:
            return None
        multi = len(loaders) > 1
        d.check_loader_idx("predict_step", multi)
        takes_idx = d.takes_batch_idx("predict_step")
        from loophooks.engine.callbacks._prediction_writer import BasePredictionWriter, record_batch_indices

        writers = [cb for cb in trainer.callbacks if isinstance(cb, BasePredictionWriter)]
        on_epoch = any(w.on_epoch for w in writers)
        recorders: list[Any] = [None] * len(loaders)
        if writers:  # the writers get each batch's sample indices
            pairs = [record_batch_indices(dl) for dl in loaders]
            loaders = [dl for dl, _ in pairs]
            recorders = [r for _, r in pairs]
        self.epoch_batch_indices = [[] for _ in loaders]
        predictions: list[list[Any]] = [[] for _ in loaders]
        self._predictions = predictions
        modes = capture_modes(strategy.module)
        d.module_hook("on_predict_model_eval")
        d.hook("on_predict_start")
        d.hook("on_predict_epoch_start")
        for dl_idx, (loader, limit) in enumerate(zip(loaders, limits)):
            state.dataloader_idx = dl_idx
            if limit == 0:
                continue
            for batch_idx, batch in enumerate(self.batches(loader, limit)):
                ctx.signals.check()  # engine/_signals.py: SIGTERM stops the run between batches
                state.eval_batch_idx = batch_idx
                batch = transfer(batch, dl_idx)
                if writers:
                    seen = recorders[dl_idx].seen_batch_indices if recorders[dl_idx] is not None else []
                    self.current_batch_indices = seen[batch_idx] if batch_idx < len(seen) else []
                    if on_epoch:
                        self.epoch_batch_indices[dl_idx].append(self.current_batch_indices)
                args: tuple[Any, ...] = (batch, batch_idx, dl_idx) if multi else (batch, batch_idx)
                d.hook("on_predict_batch_start", *args)
                step_args = args if takes_idx else (batch, *args[2:])
                output = strategy.step(d.module_hook, "predict_step", *step_args)
                d.hook("on_predict_batch_end", output, *args)
                if return_predictions or on_epoch:
                    predictions[dl_idx].append(move_data_to_device(output, torch.device("cpu")))
        d.hook("on_predict_epoch_end")
        d.hook("on_predict_end")
        restore_modes(modes)
        state.eval_batch_idx = -1
        self.epoch_batch_indices = []
        if not return_predictions:
            self._predictions = []
            return None
        return predictions if multi else predictions[0]
