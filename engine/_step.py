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

from loophooks.engine._calling import note_as
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
        "_after_backward",
        "_before_backward",
        "_before_zero_grad",
        "_d",
        "_direct",
        "_finite",
        "_opt",
        "_plain_backward",
        "_plain_zero_grad",
        "_pre_step",
        "_simple_step",
        "_state",
        "_strategy",
        "_takes_idx",
        "_train",
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
        self._state = ctx.state
        self._d: Any = None
        self._strategy: Any = None
        self._opt: Any = None  # not `_optimizer`: the conformance normalizer takes that for an optimizer wrapper
        self._train: Any = None
        self._direct = self._takes_idx = True
        self._finite = self._pre_step = self._simple_step = False
        self._plain_backward = self._plain_zero_grad = False
        self._before_zero_grad = self._before_backward = self._after_backward = False

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
        self._takes_idx = d.takes_batch_idx("training_step")
        plain = d.checks_off and _default_stepping(strategy)
        self._plain_backward = plain and d.is_builtin_default("backward")
        self._plain_zero_grad = plain and d.is_builtin_default("optimizer_zero_grad")
        self.fused = self._plain_backward and d.is_builtin_default("optimizer_step")
        active = d.active
        self._before_zero_grad = "on_before_zero_grad" in active
        self._before_backward = "on_before_backward" in active
        self._after_backward = "on_after_backward" in active
        self._pre_step = "on_before_optimizer_step" in active or strategy.clip_hook
        self._finite = bool(ctx.trainer.terminate_on_nan)
        optimizer = self._opt = strategy.optimizers[0] if strategy.optimizers else None
        # the fused step's common case: no scaler, an optimizer whose step(closure) runs the closure once, first
        self._simple_step = (
            strategy.precision.scaler is None and optimizer is not None and _closure_first(type(optimizer))
        )
        # the fused path calls training_step through its ready-made caller; the general path through module_hook
        self._train = d.caller("training_step") if self.fused and self._direct else None

    def run_batch(self, batch: Any, batch_idx: int, accumulating: bool) -> dict[str, Any]:
        """One batch under automatic optimization; returns the outputs ``on_train_batch_end`` receives.

        A batch inside an accumulation window runs the closure alone; one that closes it runs
        ``optimizer_step`` (the model's hook, or the default fused here, see :meth:`bind`).
        """
        self.args = (batch, batch_idx) if self._takes_idx else (batch,)
        self.batch_idx = batch_idx
        self.zero_grad = batch_idx % self.accumulate == 0
        state = self._state
        if accumulating:
            with self._strategy.block_backward_sync():  # DDP: no all-reduce until the stepping batch
                self()
        else:
            self.ran = False
            if self.fused:  # the default optimizer_step's body, noted as that hook
                prev = state.hook
                state.hook = "optimizer_step"
                try:
                    if self._simple_step:  # optimizer_step()'s common case inlined: closure, hooks between, step
                        self()
                        if self._pre_step:
                            _after_closure(self._strategy, self._opt)
                        self._opt.step()
                    else:
                        optimizer_step(self._strategy, self._opt, self)
                except BaseException as exc:
                    note_as(exc, "optimizer_step", state)
                    raise
                finally:
                    state.hook = prev
            else:
                optimizer = self._strategy.loop_optimizers[0]
                self._d.module_hook("optimizer_step", state.epoch, batch_idx, optimizer, self)
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
        train = self._train
        if train is not None:
            output = train(*self.args)
        elif self._direct:
            output = self._d.module_hook("training_step", *self.args)
        else:
            output = self._strategy.step(self._d.module_hook, "training_step", *self.args)
        if isinstance(output, torch.Tensor):
            loss: Optional[torch.Tensor] = output
            self.extra = None
        else:
            loss = self._other_output(output)
        if loss is not None:
            # backward needs one element attached to the graph: say so here, not in autograd's words
            if loss.numel() != 1 or not loss.requires_grad:
                _bad_loss(loss, self.ctx)
            if self._finite and not bool(torch.isfinite(loss).all()):
                _bad_loss(loss, self.ctx, finite=True)
            if self.accumulate > 1:
                loss = loss / self.accumulate
            # nobody reads a kept loss when keep_output is False (fused step, no on_train_batch_end)
            self.loss = loss.detach() if self.keep_output else loss
        else:
            self.loss = None
        if self.zero_grad:
            optimizer = self._opt
            if self._before_zero_grad:
                self._d.hook("on_before_zero_grad", optimizer)
            if self._plain_zero_grad:  # the default's body, optimizer.zero_grad(), noted as that hook
                state = self._state
                prev = state.hook
                state.hook = "optimizer_zero_grad"
                try:
                    optimizer.zero_grad()
                except BaseException as exc:
                    note_as(exc, "optimizer_zero_grad", state)
                    raise
                finally:
                    state.hook = prev
            else:
                self._d.module_hook("optimizer_zero_grad", self._state.epoch, self.batch_idx, optimizer)
        if loss is None:
            return None
        if not self._plain_backward:
            self._strategy.backward(loss, self._opt)
            return self.loss
        # backward() below for the default hook: its body, loss.backward(), without its frame
        precision = self._strategy.precision
        if precision.scaler is not None:
            loss = precision.scale(loss)
        if self._before_backward:
            self._d.hook("on_before_backward", loss)
        state = self._state
        prev = state.hook
        state.hook = "backward"
        try:
            loss.backward()
        except BaseException as exc:
            note_as(exc, "backward", state)
            raise
        finally:
            state.hook = prev
        if self._after_backward:
            self._d.hook("on_after_backward")
        return self.loss

    def _other_output(self, output: Any) -> Optional[torch.Tensor]:
        """The loss in a ``training_step`` return that is not a tensor: None (skip the batch) or a dict's."""
        if output is None:
            self.extra = None
            warnings.warn("training_step returned None; the batch is skipped", stacklevel=3)
            return None
        if isinstance(output, Mapping):
            loss = output.get("loss")
            if not isinstance(loss, torch.Tensor):
                _bad_output(self.ctx, "a dict with a tensor under 'loss'", output)
            self.extra = {k: v for k, v in output.items() if k != "loss"}
            return loss
        _bad_output(self.ctx, "a Tensor, a dict with 'loss', or None", output)


_UNREAD: dict[str, Any] = {}
"""What :meth:`Closure.run_batch` hands back when nobody reads the outputs: no dict is built per batch."""


def _default_stepping(strategy: Strategy) -> bool:
    """Whether ``strategy`` steps and backpropagates as :class:`Strategy` does (no subclass override)."""
    from loophooks.engine._strategy import Strategy

    cls = type(strategy)
    return cls.optimizer_step is Strategy.optimizer_step and cls.backward is Strategy.backward


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
        if _closure_first(type(optimizer)):
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
