"""A small trainer written from spec/ORDER.md alone, to plant bugs in.

It is not the reference engine: it shares none of its loops, so the suite is
tested against a second, independent reading of the spec, as a third-party
framework author would write one. ``bugs`` plants one realistic fault each;
``variants`` makes choices the spec leaves free (and that core must accept).

Bugs: ``epoch_end_before_val``, ``no_teardown``, ``sanity_one_more``,
``zero_every_batch``, ``step_every_batch``, ``swap_loader_idx``,
``zero_before_step`` (a bare ``optimizer.zero_grad()`` between backward and the
update), ``no_mode_restore``, ``unfreeze`` (``model.train()`` instead of restoring
each submodule's mode), ``grads_dropped`` (gradients set to ``None`` before
``on_before_optimizer_step``), ``backward_undivided`` (``backward`` gets the loss
before the division by ``accumulate_grad_batches``), ``step_while_accumulating``
(a bare ``optimizer.step()`` in batches that only accumulate),
``ignore_val_check_interval`` (validates once per epoch whatever the interval),
``extra_epoch`` (one epoch more than ``max_epochs``), ``teardown_before_fit_end``.

Variants: ``zero_first`` (zero the gradients before ``training_step``),
``lazy_val_loader`` (request the validation loaders at the first validation run),
``keyword_callbacks`` (call callback hooks with ``trainer=..., pl_module=...``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from loophooks.spec import CALLBACK_HOOKS, Stage, is_overridden
from loophooks.spec import _arith as arith

CAPABILITIES = frozenset(
    {
        "fit",
        "validate",
        "test",
        "predict",
        "sanity_check",
        "multiple_val_loaders",
        "multiple_eval_loaders",
        "accumulation",
        "val_check_interval",
        "max_steps",
        "exceptions",
        "zero_length_loaders",
    }
)


class MiniTrainer:
    def __init__(self, callbacks: list[Any], settings: dict[str, Any], bugs: frozenset[str], variants: frozenset[str]):
        self.callbacks = list(callbacks)
        self.s = settings
        self.bugs = bugs
        self.variants = variants
        self.current_epoch = 0
        self.global_step = 0
        self.gradient_clip_val = settings.get("gradient_clip_val")
        self.gradient_clip_algorithm = settings.get("gradient_clip_algorithm")
        self.model: Any = None
        self.val_loaders: list[Any] | None = None

    # --- calling hooks ---------------------------------------------------------------------------------
    def cb(self, name: str, *args: Any) -> None:
        for cb in self.callbacks:
            if "keyword_callbacks" in self.variants:
                params = CALLBACK_HOOKS[name].param_names[2:]
                getattr(cb, name)(trainer=self, pl_module=self.model, **dict(zip(params, args)))
            else:
                getattr(cb, name)(self, self.model, *args)

    def event(self, name: str, *args: Any) -> Any:
        self.cb(name, *args)
        return getattr(self.model, name)(*args)

    def transfer(self, batch: Any, idx: int) -> Any:
        m = self.model
        batch = m.on_before_batch_transfer(batch, idx)
        batch = m.transfer_batch_to_device(batch, torch.device("cpu"), idx)
        return m.on_after_batch_transfer(batch, idx)

    # --- entry points ----------------------------------------------------------------------------------
    def run(self, fn: Stage, model: Any) -> Any:
        self.model = model
        model.trainer = self
        try:
            self.callbacks += list(model.configure_callbacks() or [])
            model.prepare_data()
            self.cb("setup", fn)
            model.setup(fn)
            model.configure_model()
            result = None
            if fn == "fit":
                self.fit()
            elif fn == "predict":
                result = self.evaluate("predict", in_fit=False)
            else:
                self.evaluate("validation" if fn == "validate" else "test", in_fit=False)
            if "no_teardown" not in self.bugs and "teardown_before_fit_end" not in self.bugs:
                self.cb("teardown", fn)
                model.teardown(fn)
            return result
        except BaseException as error:
            for cb in self.callbacks:
                cb.on_exception(self, model, error)
            raise

    def fit(self) -> None:
        m, s = self.model, self.s
        configured = m.configure_optimizers()
        self.optimizer = configured if isinstance(configured, torch.optim.Optimizer) else configured["optimizer"]
        self.event("on_fit_start")
        validates = s.get("limit_val_batches", None) != 0
        sanity = s.get("num_sanity_val_steps", 2)
        if validates and sanity != 0:
            self.cb("on_sanity_check_start")
            self.evaluate("validation", in_fit=True, sanity=sanity)
            self.cb("on_sanity_check_end")
        loader = m.train_dataloader()
        n = arith.limit_batches(len(loader), s.get("limit_train_batches"))
        max_epochs, max_steps = s.get("max_epochs", 1), s.get("max_steps", -1)
        if "extra_epoch" in self.bugs:
            max_epochs += 1
        k = s.get("accumulate_grad_batches", 1)
        if n and max_steps != 0 and max_epochs != 0:
            if validates and self.val_loaders is None and "lazy_val_loader" not in self.variants:
                self.val_loaders = self._loaders(m.val_dataloader())
            self.event("on_train_start")
            total = -1
            while self.current_epoch < max_epochs and (max_steps == -1 or self.global_step < max_steps):
                self.event("on_train_epoch_start")
                due_at_end = False
                for batch_idx, batch in enumerate(loader):
                    if batch_idx == n:
                        break
                    total += 1
                    batch = self.transfer(batch, 0)
                    self.event("on_train_batch_start", batch, batch_idx)
                    steps = arith.steps_optimizer(batch_idx, n, k) or "step_every_batch" in self.bugs
                    loss = self.optimize(batch, batch_idx, steps, k)
                    self.event("on_train_batch_end", {"loss": loss}, batch, batch_idx)
                    due = validates and arith.validates_after(
                        batch_idx=batch_idx,
                        total_batch_idx=total,
                        epoch=self.current_epoch,
                        num_batches=n,
                        check_val_every_n_epoch=s.get("check_val_every_n_epoch", 1),
                        val_check_interval=None if "ignore_val_check_interval" in self.bugs else s.get("val_check_interval"),
                    )
                    last = batch_idx + 1 == n or (max_steps != -1 and self.global_step >= max_steps)
                    if due and last and "epoch_end_before_val" in self.bugs:
                        due_at_end = True
                    elif due:
                        if steps:
                            m.on_validation_model_zero_grad()
                        self.evaluate("validation", in_fit=True)
                    if max_steps != -1 and self.global_step >= max_steps:
                        break
                self.event("on_train_epoch_end")
                if due_at_end:
                    self.evaluate("validation", in_fit=True)
                self.current_epoch += 1
            self.event("on_train_end")
        if "teardown_before_fit_end" in self.bugs:
            self.cb("teardown", "fit")
            m.teardown("fit")
        self.event("on_fit_end")

    def optimize(self, batch: Any, batch_idx: int, steps: bool, k: int) -> torch.Tensor:
        m, opt = self.model, self.optimizer
        zero = batch_idx % k == 0 or "zero_every_batch" in self.bugs
        epoch = self.current_epoch
        box: dict[str, torch.Tensor] = {}

        def zero_grad() -> None:
            self.event("on_before_zero_grad", opt)
            m.optimizer_zero_grad(epoch, batch_idx, opt)

        def closure() -> torch.Tensor:
            if zero and "zero_first" in self.variants:
                zero_grad()
            loss = m.training_step(batch, batch_idx)["loss"]
            if zero and "zero_first" not in self.variants:
                zero_grad()
            undivided, loss = loss, loss / k
            self.event("on_before_backward", loss)
            m.backward(undivided if "backward_undivided" in self.bugs else loss)
            self.event("on_after_backward")
            box["loss"] = loss.detach()
            return loss

        def stepping_closure() -> torch.Tensor:
            loss = closure()
            if "grads_dropped" in self.bugs:
                opt.zero_grad(set_to_none=True)
            self.event("on_before_optimizer_step", opt)
            m.configure_gradient_clipping(opt, self.gradient_clip_val, self.gradient_clip_algorithm)
            if "zero_before_step" in self.bugs:
                opt.zero_grad()
            return loss

        if steps:
            m.optimizer_step(epoch, batch_idx, opt, stepping_closure)
            self.global_step += 1
        else:
            with torch.enable_grad():
                closure()
            if "step_while_accumulating" in self.bugs:
                opt.step()
        return box["loss"]

    @staticmethod
    def _loaders(value: Any) -> list[Any]:
        return list(value) if isinstance(value, (list, tuple)) else [value]

    def evaluate(self, stage: str, *, in_fit: bool, sanity: int | None = None) -> Any:
        m, s = self.model, self.s
        short = {"validation": "val", "test": "test", "predict": "predict"}[stage]
        if s.get(f"limit_{short}_batches") == 0:
            return None
        grad: Callable[[], Any] = torch.no_grad if in_fit else torch.inference_mode
        with grad():
            if stage == "validation" and in_fit:
                if self.val_loaders is None:
                    self.val_loaders = self._loaders(m.val_dataloader())
                loaders = self.val_loaders
            else:
                loaders = self._loaders(getattr(m, f"{stage if stage != 'validation' else 'val'}_dataloader")())
            counts = arith.eval_batches(tuple(len(dl) for dl in loaders), s.get(f"limit_{short}_batches"))
            if sanity is not None:
                counts = arith.sanity_batches(counts, sanity)
                if "sanity_one_more" in self.bugs:
                    counts = [min(c + 1, len(dl)) for c, dl in zip(counts, loaders)]
            if sum(counts) == 0:
                return None
            modes = [(mod, mod.training) for mod in m.modules()]
            getattr(m, f"on_{stage}_model_eval")()
            self.event(f"on_{stage}_start")
            self.event(f"on_{stage}_epoch_start")
            multi = len(loaders) > 1
            predictions: list[list[Any]] = []
            for i, (dl, count) in enumerate(zip(loaders, counts)):
                idx = len(loaders) - 1 - i if "swap_loader_idx" in self.bugs else i
                extra = (idx,) if multi else ()
                predictions.append([])
                for batch_idx, batch in enumerate(_take(dl, count)):
                    batch = self.transfer(batch, i)
                    self.event(f"on_{stage}_batch_start", batch, batch_idx, *extra)
                    out = getattr(m, f"{stage}_step")(batch, batch_idx, *extra)
                    predictions[-1].append(out)
                    self.event(f"on_{stage}_batch_end", out, batch, batch_idx, *extra)
            self.event(f"on_{stage}_epoch_end")
            self.event(f"on_{stage}_end")
            self._restore(stage, modes)
        if stage == "predict":
            return predictions[0] if len(predictions) == 1 else predictions
        return None

    def _restore(self, stage: str, modes: list[tuple[torch.nn.Module, bool]]) -> None:
        hook = f"on_{stage}_model_train"
        if stage != "predict" and is_overridden(self.model, hook):
            getattr(self.model, hook)()
        elif "unfreeze" in self.bugs:
            self.model.train()
        elif "no_mode_restore" not in self.bugs:
            for module, training in modes:
                module.train(training)


def _take(loader: Iterable[Any], count: int) -> Iterable[Any]:
    for i, batch in enumerate(loader):
        if i == count:
            return
        yield batch


class MiniAdapter:
    """The suite's adapter for :class:`MiniTrainer`."""

    name = "mini"
    capabilities = CAPABILITIES - {"multiple_train_loaders"}  # reads one training loader
    datamodule_base = None

    def __init__(self, bugs: Iterable[str] = (), variants: Iterable[str] = ()) -> None:
        self.bugs = frozenset(bugs)
        self.variants = frozenset(variants)

    @property
    def module_base(self) -> type[Any]:
        from loophooks.engine import LoopModule

        return LoopModule

    @property
    def callback_base(self) -> type[Any]:
        from loophooks.engine import Callback

        return Callback

    def run(
        self, fn: Stage, model: Any, *, settings: Any, callbacks: list[Any], return_predictions: Any = None, **_: Any
    ) -> Any:
        result = MiniTrainer(callbacks, dict(settings), self.bugs, self.variants).run(fn, model)
        return None if return_predictions is False else result
