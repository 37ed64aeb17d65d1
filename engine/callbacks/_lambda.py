"""``LambdaCallback``: a callback made of functions given by hook name (Lightning's)."""

from __future__ import annotations

from typing import Any, Callable

from loophooks.engine.callbacks._base import Callback
from loophooks.spec import CALLBACK_HOOKS

__all__ = ["LambdaCallback"]

# Lightning 2.6's LambdaCallback takes every callback hook but the checkpoint-state pair (a test compares
# with its signature); any other keyword is a TypeError, as for Lightning's explicit signature.
_HOOKS = frozenset(CALLBACK_HOOKS) - {"state_dict", "load_state_dict"}


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
