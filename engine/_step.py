"""One optimizer step, in one place: the closure, backward, the hooks between backward and the step.

Automatic optimization, for a batch that closes an accumulation window:

    optimizer_step(epoch, batch_idx, optimizer, closure)    # the model's hook (default: optimizer.step(closure))
        LoopOptimizer.step -> optimizer_step below:
            closure():   training_step, [on_before_zero_grad, optimizer_zero_grad],
                         on_before_backward, backward, on_after_backward
            (16-mixed: the gradients are unscaled here)
            after_closure:  on_before_optimizer_step, configure_gradient_clipping
            the optimizer's own step (16-mixed: through the GradScaler)

A batch that only accumulates runs the closure alone. Under manual optimization
``training_step`` calls ``manual_backward`` (:func:`backward`) and
``optimizer.step()`` itself, through the same :func:`optimizer_step`.

The hook contracts hold in every precision: ``on_before_backward`` receives the
loss that backward runs on (scaled under ``16-mixed``), ``on_before_optimizer_step``
sees unscaled gradients, and clipping runs on unscaled gradients after it.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, NoReturn, Optional

import torch
from torch.optim import Optimizer
from typing_extensions import final

from loophooks.engine._errors import ConfigurationError, HookValueError, add_note

if TYPE_CHECKING:
    from loophooks.engine._context import LoopContext
    from loophooks.engine._strategy import Strategy

__all__ = ["Closure", "backward", "closure_not_called", "optimizer_step"]


@final
class Closure:
    """``training_step`` + zero_grad + backward, handed to ``optimizer_step``; one per epoch loop, reused per batch."""

    __slots__ = (
        "accumulate",
        "args",
        "batch_idx",
        "ctx",
        "extra",
        "fused",
        "keep_output",
        "loss",
        "ran",
        "zero_grad",
        "_d",
        "_direct",
        "_plain_backward",
        "_plain_zero_grad",
        "_pre_step",
        "_strategy",
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
        self.fused = False
        self.keep_output = True  # whether the loop reads ``loss`` (detached); the fused step may skip the detach
        self._pre_step = False
        self._d: Any = None
        self._strategy: Any = None
        self._direct = True
        self._plain_backward = False
        self._plain_zero_grad = False

    def bind(self) -> None:
        """Look up, once per epoch, what every step of it would otherwise look up again.

        ``fused``: with checks off, a model that keeps the default ``optimizer_step``,
        ``optimizer_zero_grad`` and ``backward``, and the strategy's own stepping, the
        default bodies are run here without their frames (``optimizer.step(closure)``
        through the LoopOptimizer and the strategy): the same hooks, in the same order,
        with the same running-hook name for error notes and ``self.log``. Any override
        takes the general path.
        """
        ctx = self.ctx
        d = self._d = ctx.dispatcher()
        strategy = self._strategy = ctx.strategy
        self._direct = strategy.direct_steps
        plain = d.checks_off and _default_stepping(strategy)
        self._plain_backward = plain and d.is_builtin_default("backward")
        self._plain_zero_grad = plain and d.is_builtin_default("optimizer_zero_grad")
        self.fused = self._plain_backward and d.is_builtin_default("optimizer_step")
        self._pre_step = "on_before_optimizer_step" in d.active or strategy.clip_hook

    def __call__(self) -> Optional[torch.Tensor]:
        if not torch.is_grad_enabled():  # a hook switched grad off; the closure needs it (cheap check, rare path)
            with torch.enable_grad():
                return self()
        self.ran = True
        ctx = self.ctx
        d = self._d
        strategy = self._strategy
        if self._direct:
            output = d.module_hook("training_step", *self.args)
        else:
            output = strategy.step(d.module_hook, "training_step", *self.args)
        if isinstance(output, torch.Tensor):
            closure_loss: Optional[torch.Tensor] = output
            self.extra = None
        elif output is None:
            closure_loss = None
            self.extra = None
            warnings.warn("training_step returned None; the batch is skipped", stacklevel=2)
        elif isinstance(output, Mapping):
            closure_loss = output.get("loss")
            if not isinstance(closure_loss, torch.Tensor):
                _bad_output(ctx, "a dict with a tensor under 'loss'", output)
            self.extra = {k: v for k, v in output.items() if k != "loss"}
        else:
            _bad_output(ctx, "a Tensor, a dict with 'loss', or None", output)
        if closure_loss is not None:
            # backward needs one element attached to the graph: say so here, not in autograd's words
            if closure_loss.numel() != 1 or not closure_loss.requires_grad:
                _bad_loss(closure_loss, ctx)
            if ctx.trainer.terminate_on_nan and not bool(torch.isfinite(closure_loss).all()):
                _bad_loss(closure_loss, ctx, finite=True)
            if self.accumulate > 1:
                closure_loss = closure_loss / self.accumulate
        if closure_loss is None:
            self.loss = None
        elif self.keep_output:
            self.loss = closure_loss.detach()
        else:  # nobody reads it (fused step, no on_train_batch_end): only "a loss came" matters
            self.loss = closure_loss
        optimizer = strategy.optimizers[0]
        if self.zero_grad:
            if "on_before_zero_grad" in d.active:
                d.hook("on_before_zero_grad", optimizer)
            if self._plain_zero_grad:  # the default's body, optimizer.zero_grad(), noted as that hook
                state = ctx.state
                prev = state.hook
                state.hook = "optimizer_zero_grad"
                try:
                    optimizer.zero_grad()
                except BaseException as exc:
                    add_note(exc, f"model hook optimizer_zero_grad at {state.where()}")
                    raise
                finally:
                    state.hook = prev
            else:
                d.module_hook("optimizer_zero_grad", ctx.state.epoch, self.batch_idx, optimizer)
        if closure_loss is not None:
            if self._plain_backward:
                _plain_backward(strategy, d, closure_loss)
            else:
                strategy.backward(closure_loss, optimizer)
        return self.loss

    def step(self) -> None:
        """The default ``optimizer_step`` of a stepping batch, fused (see :meth:`bind`): the closure, the
        hooks between backward and the step, then the optimizer's step, as ``optimizer.step(closure)`` would."""
        state = self.ctx.state
        prev = state.hook
        state.hook = "optimizer_step"
        strategy = self._strategy
        optimizer = strategy.optimizers[0]
        try:
            if strategy.precision.scaler is None and _CLOSURE_FIRST.get(type(optimizer)):
                # optimizer_step()'s common case inlined: the closure, the hooks between, the step
                self()
                if self._pre_step:
                    _after_closure(strategy, optimizer)
                optimizer.step()
            else:
                optimizer_step(strategy, optimizer, self)
        except BaseException as exc:
            add_note(exc, f"model hook optimizer_step at {state.where()}")
            raise
        finally:
            state.hook = prev


def _default_stepping(strategy: Strategy) -> bool:
    """Whether ``strategy`` steps and backpropagates as :class:`Strategy` does (no subclass override)."""
    from loophooks.engine._strategy import Strategy

    cls = type(strategy)
    return cls.optimizer_step is Strategy.optimizer_step and cls.backward is Strategy.backward


def _plain_backward(strategy: Strategy, d: Any, loss: torch.Tensor) -> None:
    """:func:`backward` for the default ``backward`` hook: its body (``loss.backward()``) without its frame."""
    if strategy.precision.scaler is not None:
        loss = strategy.precision.scale(loss)
    active = d.active
    if "on_before_backward" in active:
        d.hook("on_before_backward", loss)
    state = d.state
    prev = state.hook
    state.hook = "backward"
    try:
        loss.backward()  # type: ignore[no-untyped-call]
    except BaseException as exc:
        add_note(exc, f"model hook backward at {state.where()}")
        raise
    finally:
        state.hook = prev
    if "on_after_backward" in active:
        d.hook("on_after_backward")


def _bad_output(ctx: LoopContext, expected: str, output: Any) -> NoReturn:
    """Raise the error for a ``training_step`` return the loop cannot use.

    Noted as ``training_step``'s before it leaves the closure: ``optimizer_step``
    runs the closure, and its note would otherwise be the first (and only) one.
    """
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


def _bad_loss(loss: torch.Tensor, ctx: LoopContext, finite: bool = False) -> None:
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


def _after_closure(strategy: Strategy, optimizer: Optimizer) -> None:
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


def _closure_first(cls: type) -> bool:
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
        first = _CLOSURE_FIRST.get(type(optimizer))
        if first is None:
            first = _closure_first(type(optimizer))
        if first:
            # The same order as step(closure): torch's optimizers call the closure once, first thing,
            # and we save the closure wrapping and step's enable_grad context on every step.
            result = closure()
            _after_closure(strategy, optimizer)
            optimizer.step(**kwargs)
            return result
        inner = closure

        def wrapped() -> Any:
            result = inner()
            _after_closure(strategy, optimizer)
            return result

        return optimizer.step(closure=wrapped, **kwargs)
    if isinstance(optimizer, torch.optim.LBFGS):
        raise ConfigurationError("precision='16-mixed' cannot step torch.optim.LBFGS")
    result = closure()
    skip = result is None and strategy.automatic
    if not skip:
        scaler.unscale_(optimizer)
    _after_closure(strategy, optimizer)
    if skip:
        return result
    out = scaler.step(optimizer, **kwargs)
    scaler.update()
    return out
