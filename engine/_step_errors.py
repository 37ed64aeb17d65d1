"""The errors a training step raises when what it got cannot be trained on (engine/_step.py).

Each is noted as ``training_step``'s (or ``optimizer_step``'s) with the place in the run
before it leaves the closure: ``optimizer_step`` runs the closure, and its own note would
otherwise be the first (and only) one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

import torch

from loophooks.engine._errors import ConfigurationError, HookValueError, add_note

if TYPE_CHECKING:
    from loophooks.engine._context import LoopContext

__all__ = ["bad_loss", "bad_output", "closure_not_called"]


def bad_output(ctx: LoopContext, expected: str, output: Any) -> NoReturn:
    """Raise the error for a ``training_step`` return the loop cannot use."""
    error = HookValueError("training_step", "return value", expected, output)
    add_note(error, f"training_step's return value at {ctx.state.where()}")
    raise error


def closure_not_called(ctx: LoopContext) -> NoReturn:
    """An ``optimizer_step`` that never ran its closure: nothing was trained, so say so (as Lightning does)."""
    model = type(ctx.strategy.module).__name__
    error = ConfigurationError(
        f"{model}.optimizer_step returned without calling optimizer_closure: training_step and backward never ran, "
        "so this step trained nothing. Call optimizer.step(closure=optimizer_closure) (or optimizer_closure()) "
        "in optimizer_step, and use an optimizer whose step calls the closure."
    )
    add_note(error, f"model hook optimizer_step at {ctx.state.where()}")
    raise error


def bad_loss(loss: torch.Tensor, ctx: LoopContext, finite: bool = False) -> None:
    """Raise the error for a loss that backward cannot (or, with ``terminate_on_nan``, must not) use."""
    if finite:
        expected = "finite (Trainer(terminate_on_nan=True) stops on NaN or inf)"
    elif loss.numel() != 1:
        expected = f"a scalar tensor (one element), not shape {tuple(loss.shape)}"
    else:
        expected = "a tensor that requires grad (computed from the parameters, not detached or made with torch.tensor)"
    error = HookValueError("training_step", "loss", expected, loss)
    add_note(error, f"training_step's loss at {ctx.state.where()}")
    raise error
