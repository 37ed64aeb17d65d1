"""Validation and test: one loop for both, the stage picks the hook names.

    setup_data                                 # val_dataloader / test_dataloader, once per fit
    on_{stage}_model_eval                      # model only
    on_{stage}_start, on_{stage}_epoch_start   # callbacks, then model
    for each loader, for each batch:
        on_before_batch_transfer, transfer_batch_to_device, on_after_batch_transfer
        on_{stage}_batch_start
        {stage}_step
        on_{stage}_batch_end
    on_{stage}_epoch_end, on_{stage}_end
    on_{stage}_model_train if overridden, else the model's modes are restored

Inside fit the loop runs under ``torch.no_grad``; ``validate``/``test`` run
under ``torch.inference_mode``. Nothing runs when every loader gives 0 batches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Union

import torch
from typing_extensions import final

from loophooks.engine._data import BatchIterator, as_loader_list, loader_length, num_batches
from loophooks.engine._lightning_options import grad_context
from loophooks.spec._hook_names import HookName, hook_name

if TYPE_CHECKING:
    from loophooks.engine._context import LoopContext

__all__ = ["EvalLoop", "capture_modes", "restore_modes"]

Number = Union[int, float]


def capture_modes(module: Any) -> list[tuple[Any, bool]]:
    if not isinstance(module, torch.nn.Module):
        return []
    return [(m, m.training) for m in module.modules()]


def restore_modes(modes: list[tuple[Any, bool]]) -> None:
    for m, training in modes:
        m.training = training


@final
class EvalLoop:
    """Runs validation (inside fit or ``validate``) or ``test``."""

    batches = BatchIterator  # a profiled run times next() on this loop (engine/_profiler_actions.py)

    def __init__(self, ctx: LoopContext, kind: Literal["validation", "test"]) -> None:
        self.ctx = ctx
        self.kind = kind
        self.loaders: list[Any] | None = None
        self.max_batches: list[Number] = []
        self.seen: dict[int, int] = {}  # batches logged per loader, the loggers' step (kept across a fit's runs)
        # the stage's hook names, checked against the table once (spec/_hook_names.py)
        self._step = hook_name(f"{kind}_step")
        self._batch_start = hook_name(f"on_{kind}_batch_start")
        self._batch_end = hook_name(f"on_{kind}_batch_end")
        self._model_eval, self._model_train = hook_name(f"on_{kind}_model_eval"), hook_name(f"on_{kind}_model_train")
        self._start, self._end = hook_name(f"on_{kind}_start"), hook_name(f"on_{kind}_end")
        self._epoch_start, self._epoch_end = hook_name(f"on_{kind}_epoch_start"), hook_name(f"on_{kind}_epoch_end")

    @property
    def limit(self) -> Number:
        t = self.ctx.trainer
        return t.limit_val_batches if self.kind == "validation" else t.limit_test_batches

    def setup_data(self) -> None:
        """Ask for the loaders (once per fit) and count their batches."""
        ctx = self.ctx
        if self.loaders is not None and ctx.state.fn == "fit":
            return
        if self.limit == 0 or not ctx.dispatcher().has(self._step):
            return
        source: HookName = "val_dataloader" if self.kind == "validation" else "test_dataloader"
        loaders = as_loader_list(ctx.data.request(source), source)
        self.loaders = loaders
        self.seen = {}
        option = "limit_val_batches" if self.kind == "validation" else "limit_test_batches"
        self.max_batches = [num_batches(loader_length(dl), self.limit, option) for dl in loaders]

    def run(self, sanity: bool = False) -> list[dict[str, torch.Tensor]]:
        # Trainer(inference_mode=False): no_grad outside fit too (engine/_lightning_options.py)
        grad = torch.no_grad() if self.ctx.state.fn == "fit" else grad_context(self.ctx.trainer)
        with grad:
            return self._run(sanity)

    def _run(self, sanity: bool) -> list[dict[str, torch.Tensor]]:
        ctx = self.ctx
        trainer = ctx.trainer
        d = ctx.dispatcher()
        state = ctx.state
        strategy = ctx.strategy
        transfer = ctx.data.transfer
        self.setup_data()
        loaders = self.loaders or []
        max_batches = self.max_batches
        if sanity:
            cap = trainer.num_sanity_val_steps
            max_batches = [b if cap == -1 else min(cap, b) for b in max_batches]
        if not loaders or sum(max_batches) == 0:
            return []
        multi = len(loaders) > 1
        d.check_loader_idx(self._step, multi)
        step_takes_idx = d.takes_batch_idx(self._step)
        step = d.module_hook
        modes = capture_modes(strategy.module)
        metrics = ctx.metrics
        d.module_hook(self._model_eval)
        d.hook(self._start)
        d.hook(self._epoch_start)
        outputs: list[dict[str, torch.Tensor]] = []
        store = metrics.store()  # this stage's store, the same for every batch
        for dl_idx, (loader, limit) in enumerate(zip(loaders, max_batches)):
            state.dataloader_idx = dl_idx
            if limit == 0:
                continue
            for batch_idx, batch in enumerate(self.batches(loader, limit)):
                ctx.signals.check()  # engine/_signals.py: SIGTERM stops the run between batches
                state.eval_batch_idx = batch_idx
                batch = transfer(batch, dl_idx)
                metrics.on_batch_start(store, batch, dl_idx if multi else None)
                args: tuple[Any, ...] = (batch, batch_idx, dl_idx) if multi else (batch, batch_idx)
                d.hook(self._batch_start, *args)
                step_args = args if step_takes_idx else (batch, *args[2:])
                output = strategy.step(step, self._step, *step_args)
                d.hook(self._batch_end, output, *args)
                metrics.on_batch_end(store)
                if not sanity:
                    seen = self.seen.get(dl_idx, 0)
                    metrics.update_eval_step_metrics(seen)
                    self.seen[dl_idx] = seen + 1
            # this loader's epoch values: its entry in the returned list
            metrics.epoch_end_reached()
            outputs.append(metrics.update_eval_epoch_metrics())
        metrics.epoch_end_reached()
        metrics.evaluation_epoch_end()  # values logged from here on belong to no loader
        d.hook(self._epoch_end)
        metrics.on_epoch_end()
        epoch_end = metrics.update_eval_epoch_metrics()
        every: dict[str, torch.Tensor] = {}
        for out in reversed(outputs):  # a key two loaders share keeps the first loader's value (Lightning)
            every.update(out)
        for out in outputs:
            out.update(epoch_end)
        every.update(epoch_end)
        metrics.log_eval_end_metrics(every)
        d.hook(self._end)
        metrics.reset_results()
        if d.overridden(self._model_train):
            d.module_hook(self._model_train)
        else:
            restore_modes(modes)
        state.eval_batch_idx = -1
        return outputs
