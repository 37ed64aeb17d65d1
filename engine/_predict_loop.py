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
    def __init__(self, ctx: LoopContext) -> None:
        self.ctx = ctx
        self.loaders: Optional[list[Any]] = None  # trainer.predict_dataloaders

    def run(self, return_predictions: bool) -> Any:
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
        limits = [num_batches(loader_length(dl), trainer.limit_predict_batches, "limit_predict_batches") for dl in loaders]
        if not loaders or sum(limits) == 0:
            return None
        multi = len(loaders) > 1
        d.check_loader_idx("predict_step", multi)
        takes_idx = d.takes_batch_idx("predict_step")
        predictions: list[list[Any]] = [[] for _ in loaders]
        modes = capture_modes(strategy.module)
        d.module_hook("on_predict_model_eval")
        d.hook("on_predict_start")
        d.hook("on_predict_epoch_start")
        for dl_idx, (loader, limit) in enumerate(zip(loaders, limits)):
            state.dataloader_idx = dl_idx
            if limit == 0:
                continue
            for batch_idx, batch in enumerate(BatchIterator(loader, limit)):
                ctx.signals.check()  # engine/_signals.py: SIGTERM stops the run between batches
                state.eval_batch_idx = batch_idx
                batch = transfer(batch, dl_idx)
                args: tuple[Any, ...] = (batch, batch_idx, dl_idx) if multi else (batch, batch_idx)
                d.hook("on_predict_batch_start", *args)
                step_args = args if takes_idx else (batch, *args[2:])
                output = strategy.step(d.module_hook, "predict_step", *step_args)
                d.hook("on_predict_batch_end", output, *args)
                if return_predictions:
                    predictions[dl_idx].append(move_data_to_device(output, torch.device("cpu")))
        d.hook("on_predict_epoch_end")
        d.hook("on_predict_end")
        restore_modes(modes)
        state.eval_batch_idx = -1
        if not return_predictions:
            return None
        return predictions if multi else predictions[0]
