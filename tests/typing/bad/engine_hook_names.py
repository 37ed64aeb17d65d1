"""Engine-style code naming hooks: a misspelled name is a mypy error where it is written, not a silent no-op."""

from __future__ import annotations

from loophooks.engine import Dispatcher
from loophooks.engine._state import LoopState


def run_epoch(d: Dispatcher) -> None:
    d.hook("on_train_epoch_start")
    d.hook("on_train_epoch_strat")  # E: [arg-type] Argument 1 to "hook" of "Dispatcher" has incompatible type
    d.module_hook("on_validation_model_eval")
    d.module_hook("on_validation_model_evaluate")  # E: [arg-type] Argument 1 to "module_hook" of "Dispatcher"
    d.callback_hooks("on_train_batch_end", None, None, 0)
    d.callback_hooks("on_train_batch_ends", None, None, 0)  # E: [arg-type] Argument 1 to "callback_hooks"
    if d.has("training_step") and not d.overridden("on_fit_start"):
        d.data_hook("train_dataloaders")  # E: [arg-type] Argument 1 to "data_hook" of "Dispatcher"


def fused_step(state: LoopState) -> None:
    # the running hook's name, which the fused step sets around each default body it runs inline
    state.hook = "optimizer_zero_grad"
    state.hook = "optimizer_zero_grads"  # E: [assignment] Incompatible types in assignment
