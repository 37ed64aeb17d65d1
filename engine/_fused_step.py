"""The common training batch as one straight-line function, built once per epoch.

When the whole of a batch's optimization is the defaults (see :func:`fused_batch`),
``optimizer_step`` for a batch that closes its accumulation window is, hook by hook,
what :class:`~loophooks.engine._step.Closure` runs on its fused path:

    optimizer_step                        # the default body: optimizer.step(closure)
        training_step
        [on_before_zero_grad] optimizer_zero_grad     # first batch of the window
        [on_before_backward] backward [on_after_backward]
        [on_before_optimizer_step, configure_gradient_clipping]
        the optimizer's own step
    global_step += 1

The function below runs exactly that, with everything that stays fixed over the
epoch held in its closure rather than looked up on objects per batch: on a model
whose step costs little, those lookups were most of the engine's own time. Every
other batch (one that only accumulates, grad mode switched off by a hook) and every
other configuration goes to ``Closure.run_batch``. ``tests/engine/test_fused_step.py``
runs the same fits through both and compares hooks, values and errors.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional

import torch
from torch import Tensor

from loophooks.engine._calling import note_as
from loophooks.engine._step import Closure, after_closure, closure_first
from loophooks.engine._step_errors import bad_loss

__all__ = ["fused_batch"]

BatchFn = Callable[[Any, int, bool], dict[str, Any]]

_UNREAD: dict[str, Any] = {}
"""What a batch hands back when nobody reads its outputs (no ``on_train_batch_end``): no dict per batch."""


def fused_batch(closure: Closure) -> Optional[BatchFn]:
    """The straight-line batch for ``closure``'s epoch (bound), or None when its configuration needs the general path.

    It applies when the model keeps the default ``optimizer_step`` (``Closure.fused``: checks
    off, the strategy's own stepping), ``optimizer_zero_grad`` and ``backward``; no profiler or
    wrapping strategy stands between the loop and ``training_step``; and the one optimizer
    steps as torch's do (its closure once, first) without a gradient scaler.
    """
    d = closure.dispatch
    optimizer = closure.optimizer
    train = d.raw("training_step") if closure.direct else None  # None: checks, a profiler or a wrapping strategy
    if not (
        closure.fused
        and train is not None
        and d.is_builtin_default("optimizer_zero_grad")
        and d.is_builtin_default("backward")
        and closure.strategy.precision.scaler is None
        and optimizer is not None
        and closure_first(type(optimizer))
    ):
        return None
    state = closure.ctx.state
    takes_idx = closure.takes_idx
    zero_grad = optimizer.zero_grad
    step = optimizer.step
    accumulate = closure.accumulate
    finite = closure.finite
    keep_output = closure.keep_output
    active = d.active
    before_zero_grad = "on_before_zero_grad" in active
    before_backward = "on_before_backward" in active
    after_backward = "on_after_backward" in active
    # on_before_optimizer_step and clipping, when either is due
    pre_step = "on_before_optimizer_step" in active or closure.strategy.clip_hook
    between = functools.partial(after_closure, closure.strategy, optimizer) if pre_step else None
    general = closure.run_batch
    other_output = closure.other_output
    grad_enabled = torch.is_grad_enabled

    def run(batch: Any, batch_idx: int, accumulating: bool) -> dict[str, Any]:
        if accumulating or not grad_enabled():  # the closure alone, or under enable_grad: the general path
            return general(batch, batch_idx, accumulating)
        prev = state.hook
        state.hook = "optimizer_step"
        try:
            # the closure: training_step, its loss checked, zero_grad, backward
            state.hook = "training_step"
            try:
                output = train(batch, batch_idx) if takes_idx else train(batch)
            except BaseException as exc:
                note_as(exc, "training_step", state)
                raise
            finally:
                state.hook = "optimizer_step"
            if isinstance(output, Tensor):
                loss: Optional[Tensor] = output
                extra = None
            else:
                loss = other_output(output)
                extra = closure.extra
            if loss is not None:
                if loss.numel() != 1 or not loss.requires_grad:
                    bad_loss(loss, closure.ctx)
                if finite and not bool(torch.isfinite(loss).all()):
                    bad_loss(loss, closure.ctx, finite=True)
                if accumulate > 1:
                    loss = loss / accumulate
            if batch_idx % accumulate == 0:
                if before_zero_grad:
                    d.hook("on_before_zero_grad", optimizer)
                state.hook = "optimizer_zero_grad"
                try:
                    zero_grad()
                except BaseException as exc:
                    note_as(exc, "optimizer_zero_grad", state)
                    raise
                finally:
                    state.hook = "optimizer_step"
            if loss is not None:
                if before_backward:
                    d.hook("on_before_backward", loss)
                state.hook = "backward"
                try:
                    loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward untyped
                except BaseException as exc:
                    note_as(exc, "backward", state)
                    raise
                finally:
                    state.hook = "optimizer_step"
                if after_backward:
                    d.hook("on_after_backward")
            # after the closure: the hooks between the gradients and the step, then the step
            if between is not None:
                between()
            step()
        except BaseException as exc:
            note_as(exc, "optimizer_step", state)
            raise
        finally:
            state.hook = prev
        state.global_step += 1
        if not keep_output:
            return _UNREAD
        if loss is None:
            return {}
        loss = loss.detach()
        return {"loss": loss} if not extra else {"loss": loss, **extra}

    return run
