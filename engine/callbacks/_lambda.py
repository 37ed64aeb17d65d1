"""``LambdaCallback``: a callback made of functions given by hook name (Lightning's)."""

from __future__ import annotations

from typing import Any, Callable

from loophooks.engine.callbacks._base import Callback

__all__ = ["LambdaCallback"]

# The hooks Lightning 2.6's LambdaCallback takes (not all callback hooks: no state_dict, no optimizer hooks
# beyond these); any other keyword is a TypeError, as for Lightning's explicit signature.
_HOOKS = frozenset(
    {
        "setup",
        "teardown",
        "on_fit_start",
        "on_fit_end",
        "on_sanity_check_start",
        "on_sanity_check_end",
        "on_train_batch_start",
        "on_train_batch_end",
        "on_train_epoch_start",
        "on_train_epoch_end",
        "on_validation_epoch_start",
        "on_validation_epoch_end",
        "on_test_epoch_start",
        "on_test_epoch_end",
        "on_validation_batch_start",
        "on_validation_batch_end",
        "on_test_batch_start",
        "on_test_batch_end",
        "on_train_start",
        "on_train_end",
        "on_validation_start",
        "on_validation_end",
        "on_test_start",
        "on_test_end",
        "on_exception",
        "on_save_checkpoint",
        "on_load_checkpoint",
        "on_before_backward",
        "on_after_backward",
        "on_before_optimizer_step",
        "on_before_zero_grad",
        "on_predict_start",
        "on_predict_end",
        "on_predict_batch_start",
        "on_predict_batch_end",
        "on_predict_epoch_start",
        "on_predict_epoch_end",
    }
)


class LambdaCallback(Callback):
    """``LambdaCallback(on_train_epoch_end=lambda trainer, pl_module: ...)``: each given function is that hook."""

    def __init__(self, **hooks: Callable[..., Any] | None) -> None:
        unknown = sorted(set(hooks) - _HOOKS)
        if unknown:
            raise TypeError(
                f"LambdaCallback got unexpected keyword argument(s) {unknown}; it takes the hooks {sorted(_HOOKS)}"
            )
        for name, fn in hooks.items():
            if fn is None:
                continue
            if not callable(fn):
                raise TypeError(f"LambdaCallback({name}=...) must be callable; received {fn!r}")
            setattr(self, name, fn)
