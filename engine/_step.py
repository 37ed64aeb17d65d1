"""One optimizer step, in one place: the closure, backward, the hooks between backward and the step.

Automatic optimization, for a batch that closes an accumulation window:

    optimizer_step(epoch, batch_idx, optimizer, closure)    # the model's hook (default: optimizer.step(closure))
        LoopOptimizer.step -> optimizer_step below:
            closure():   training_step, [on_before_zero_grad, optimizer_zero_grad],
                         on_before_backward, backward, on_after_backward
            (16-mixed: the gradients are unscaled here)
            after_closure:  on_before_optimizer_step, configure_gradient_clipping
            the optimizer's own step (16-mixed: through the GradScaler)

A batch that only accumulates runs the closure alone. A batch whose optimization is
all defaults runs the same sequence straight-line (engine/_fused_step.py). Under manual optimization
``training_step`` calls ``manual_backward`` (:func:`backward`) and
``optimizer.step()`` itself, through the same :func:`optimizer_step`.

The hook contracts hold in every precision: ``on_before_backward`` receives the
loss that backward runs on (scaled under ``16-mixed``), ``on_before_optimizer_step``
sees unscaled gradients, and clipping runs on unscaled gradients after it.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, Optional

import torch
from torch.optim import Optimizer
from typing_extensions import final

from loophooks.engine._calling import note_as
from loophooks.engine._errors import ConfigurationError
from loophooks.engine._step_errors import bad_loss, bad_output, closure_not_called

if TYPE_CHECKING:
    from loophooks.engine._context import LoopContext
    from loophooks.engine._strategy import Strategy

__all__ = ["Closure", "after_closure", "backward", "closure_first", "optimizer_step"]


@final
class Closure:
    """``training_step`` + zero_grad + backward, handed to ``optimizer_step``; one per epoch loop, reused per batch."""

    __slots__ = (
        "accumulate",
        "args",
        "batch_idx",
        "before_zero_grad",
        "ctx",
        "direct",
        "dispatch",
        "extra",
        "finite",
        "fused",
        "keep_output",
        "loss",
        "optimizer",
        "ran",
        "strategy",
        "takes_idx",
        "zero_grad",
        "_state",
    )

    def __init__(self, ctx: LoopContext, accumulate: int) -> None:
        self.ctx = ctx
        self.accumulate = accumulate
        self.args: tuple[Any, ...] = ()
        self.batch_idx = 0
        self.zero_grad = False
        self.loss: Optional[torch.Tensor] = None
        self.extra: Optional[dict[str, Any]] = None
        self.ran = False  # set by each call: optimizer_step must run the closure (Lightning raises otherwise)
        self.keep_output = True  # whether the loop reads ``loss`` (detached); the fused step may skip the detach
        self._state = ctx.state
        self.dispatch: Any = None
        self.strategy: Any = None
        self.optimizer: Any = None  # not `_optimizer`: the conformance normalizer takes that for an optimizer wrapper
        self.direct = self.takes_idx = True
        self.finite = self.fused = self.before_zero_grad = False

    def bind(self) -> None:
        """Look up, once per epoch, what every step of it would otherwise look up again.

        ``fused``: with checks off, a model that keeps the default ``optimizer_step`` and the
        strategy's own stepping, the batch that closes a window runs that default's body
        (:func:`optimizer_step`) without the model's hook and the LoopOptimizer between: the
        same hooks, in the same order, noted as ``optimizer_step``. Any override takes the
        general path. A batch whose optimization is all defaults runs straight-line instead
        (engine/_fused_step.py, built from what is bound here).
        """
        ctx = self.ctx
        d = self.dispatch = ctx.dispatcher()
        strategy = self.strategy = ctx.strategy
        self.direct = strategy.direct_steps
        self.takes_idx = d.takes_batch_idx("training_step")
        self.fused = d.checks_off and _default_stepping(strategy) and d.is_builtin_default("optimizer_step")
        self.before_zero_grad = "on_before_zero_grad" in d.active
        self.finite = bool(ctx.trainer.terminate_on_nan)
        self.optimizer = strategy.optimizers[0] if strategy.optimizers else None

    def run_batch(self, batch: Any, batch_idx: int, accumulating: bool) -> dict[str, Any]:
        """One batch under automatic optimization; returns the outputs ``on_train_batch_end`` receives.

        A batch inside an accumulation window runs the closure alone; one that closes it runs
        ``optimizer_step`` (the model's hook, or the default fused here, see :meth:`bind`).
        """
        self.args = (batch, batch_idx) if self.takes_idx else (batch,)
        self.batch_idx = batch_idx
        self.zero_grad = batch_idx % self.accumulate == 0
        state = self._state
        if accumulating:
            with self.strategy.block_backward_sync():  # DDP: no all-reduce until the stepping batch
                self()
        else:
            self.ran = False
            if self.fused:  # the default optimizer_step's body, noted as that hook
                prev = state.hook
                state.hook = "optimizer_step"
                try:
                    optimizer_step(self.strategy, self.optimizer, self)
                except BaseException as exc:
                    note_as(exc, "optimizer_step", state)
                    raise
                finally:
                    state.hook = prev
            else:
                optimizer = self.strategy.loop_optimizers[0]
                self.dispatch.module_hook("optimizer_step", state.epoch, batch_idx, optimizer, self)
            if not self.ran:
                closure_not_called(self.ctx)
            state.global_step += 1
        loss = self.loss
        self.loss = None
        if not self.keep_output:
            return _UNREAD  # nobody receives the outputs (no on_train_batch_end)
        if loss is None:
            return {}
        extra = self.extra
        return {"loss": loss} if not extra else {"loss": loss, **extra}

    def __call__(self) -> Optional[torch.Tensor]:
        if not torch.is_grad_enabled():  # a hook switched grad off; the closure needs it (cheap check, rare path)
            with torch.enable_grad():
                return self()
        self.ran = True
        if self.direct:
            output = self.dispatch.module_hook("training_step", *self.args)
        else:
            output = self.strategy.step(self.dispatch.module_hook, "training_step", *self.args)
        if isinstance(output, torch.Tensor):
            loss: Optional[torch.Tensor] = output
            self.extra = None
        else:
            loss = self.other_output(output)
        if loss is not None:
            # backward needs one element attached to the graph: say so here, not in autograd's words
            if loss.numel() != 1 or not loss.requires_grad:
                bad_loss(loss, self.ctx)
            if self.finite and not bool(torch.isfinite(loss).all()):
                bad_loss(loss, self.ctx, finite=True)
            if self.accumulate > 1:
                loss = loss / self.accumulate
            # nobody reads a kept loss when keep_output is False (fused step, no on_train_batch_end)
            self.loss = loss.detach() if self.keep_output else loss
        else:
            self.loss = None
        if self.zero_grad:
            optimizer = self.optimizer
            if self.before_zero_grad:
                self.dispatch.hook("on_before_zero_grad", optimizer)
            self.dispatch.module_hook("optimizer_zero_grad", self._state.epoch, self.batch_idx, optimizer)
        if loss is not None:
            self.strategy.backward(loss, self.optimizer)
        return self.loss

    def other_output(self, output: Any) -> Optional[torch.Tensor]:
        """The loss in a ``training_step`` return that is not a tensor: None (skip the batch) or a dict's."""
        if output is None:
            self.extra = None
            warnings.warn("training_step returned None; the batch is skipped", stacklevel=3)
            return None
        if isinstance(output, Mapping):
            loss = output.get("loss")
            if not isinstance(loss, torch.Tensor):
                bad_output(self.ctx, "a dict with a tensor under 'loss'", output)
            self.extra = {k: v for k, v in output.items() if k != "loss"}
            return loss
        bad_output(self.ctx, "a Tensor, a dict with 'loss', or None", output)


_UNREAD: dict[str, Any] = {}
"""What :meth:`Closure.run_batch` hands back when nobody reads the outputs: no dict is built per batch."""


def _default_stepping(strategy: Strategy) -> bool:
    """Whether ``strategy`` steps and backpropagates as :class:`Strategy` does (no subclass override)."""
    from loophooks.engine._strategy import Strategy

    cls = type(strategy)
    return cls.optimizer_step is Strategy.optimizer_step and cls.backward is Strategy.backward


def backward(strategy: Strategy, loss: torch.Tensor, *args: Any, **kwargs: Any) -> None:
    """``on_before_backward`` (with the loss backward runs on), ``backward``, ``on_after_backward``."""
    d = strategy.dispatch
    assert d is not None
    if strategy.precision.scaler is not None:
        loss = strategy.precision.scale(loss)
    active = d.active
    if "on_before_backward" in active:
        d.hook("on_before_backward", loss)
    d.module_hook("backward", loss, *args, **kwargs)
    if "on_after_backward" in active:
        d.hook("on_after_backward")


def after_closure(strategy: Strategy, optimizer: Optimizer) -> None:
    """Between the gradients' computation and the step: hooks, then clipping (automatic only)."""
    d = strategy.dispatch
    assert d is not None
    if "on_before_optimizer_step" in d.active:
        d.hook("on_before_optimizer_step", optimizer)
    if strategy.clip_hook:
        trainer = d.trainer
        # positional, so no keyword dict is built every step; the hook's parameters are (optimizer,
        # gradient_clip_val, gradient_clip_algorithm), which Lightning passes by keyword
        d.module_hook(
            "configure_gradient_clipping", optimizer, trainer.gradient_clip_val, trainer.gradient_clip_algorithm
        )


_CLOSURE_FIRST: dict[type, bool] = {}


def closure_first(cls: type) -> bool:
    """Whether ``cls.step(closure)`` is known to call the closure exactly once, before anything else.

    True for torch's own optimizers except LBFGS (which calls it repeatedly); False for
    any other optimizer, which then gets the closure itself, as in Lightning.
    """
    known = _CLOSURE_FIRST.get(cls)
    if known is None:
        step = getattr(cls, "step", None)
        module = getattr(step, "__module__", "") or ""
        known = _CLOSURE_FIRST[cls] = module.startswith("torch.optim.") and not issubclass(cls, torch.optim.LBFGS)
    return known


def _no_closure() -> None:
    return None


def optimizer_step(
    strategy: Strategy, optimizer: Optimizer, closure: Optional[Callable[[], Any]], **kwargs: Any
) -> Any:
    """Run ``closure`` (step + backward), then the hooks and clipping, then the optimizer's step.

    Without a scaler the closure goes to ``optimizer.step`` so closure-driven
    optimizers (LBFGS) work. With a scaler the gradients are unscaled between
    closure and the hooks; a closure that produced no loss (the step was
    skipped, automatic optimization) skips unscaling and stepping, as Lightning does.
    """
    if closure is None:
        closure = _no_closure
    scaler = strategy.precision.scaler
    if scaler is None:
        if closure_first(type(optimizer)):
            # The same order as step(closure): torch's optimizers call the closure once, first thing,
            # and we save the closure wrapping and step's enable_grad context on every step.
            result = closure()
            after_closure(strategy, optimizer)
            optimizer.step(**kwargs)
            return result
        inner = closure

        def wrapped() -> Any:
            result = inner()
            after_closure(strategy, optimizer)
            return result

        return optimizer.step(closure=wrapped, **kwargs)
    if isinstance(optimizer, torch.optim.LBFGS):
        raise ConfigurationError("precision='16-mixed' cannot step torch.optim.LBFGS")
    result = closure()
    skip = result is None and strategy.automatic
    if not skip:
        scaler.unscale_(optimizer)
    after_closure(strategy, optimizer)
    if skip:
        return result
    out = scaler.step(optimizer, **kwargs)
    scaler.update()
    return out
