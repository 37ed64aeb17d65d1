"""What the default bodies of the Protocols (``spec/_protocols.py``, generated) call.

The bodies themselves are written in the hook table (``Hook.body``); the generator
copies them into each Protocol method, so a default costs no extra call. What they
share lives here, written by hand.
"""

from __future__ import annotations

from typing import Any, Optional, Union, cast

import torch

from loophooks.spec._transfer import move_data_to_device

__all__ = ["HookNotImplementedError", "clip_gradients_of", "loop_model", "missing_hook", "move_data_to_device"]


class HookNotImplementedError(NotImplementedError):
    """A hook the loop needs was not implemented (a dataloader hook, say)."""


def missing_hook(hook: str, why: str) -> HookNotImplementedError:
    """The error a default raises for a hook the loop needs and the model does not implement."""
    return HookNotImplementedError(f"`{hook}` must be implemented {why}.")


def loop_model(self: object) -> torch.nn.Module:
    """The model the loop runs: ``self.trainer.model`` where a trainer is attached, else ``self``.

    A wrapper such as DistributedDataParallel is the trainer's ``model``; switching
    its mode switches the user's module inside it too.
    """
    try:
        trainer = getattr(self, "trainer", None)
    except RuntimeError:  # a base class whose ``trainer`` property raises while unattached
        trainer = None
    model = getattr(trainer, "model", None) if trainer is not None else None
    return cast(torch.nn.Module, model if model is not None else self)


def clip_gradients_of(
    optimizer: Any, gradient_clip_val: Optional[Union[int, float]], gradient_clip_algorithm: Optional[str]
) -> None:
    """Clip the gradients of ``optimizer``'s parameters: by ``"value"``, else by norm; nothing for None or 0.

    The one implementation: the default ``configure_gradient_clipping`` and the
    engine's ``clip_gradients`` both come here.
    """
    if not gradient_clip_val:
        return
    params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if gradient_clip_algorithm == "value":
        torch.nn.utils.clip_grad_value_(params, float(gradient_clip_val))
    else:
        torch.nn.utils.clip_grad_norm_(params, float(gradient_clip_val))
