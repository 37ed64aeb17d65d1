"""The straight-line training batch (engine/_fused_step.py) against the general path and against Lightning.

Every fit here runs three times: through the engine as it is (where the batch's optimization
is all defaults, ``fused_batch`` runs it), through the engine with the fused batch switched
off (``Closure.run_batch`` for every batch), and through Lightning 2.6.6. The hooks the
callbacks hear (with the step, the loss and the gradients they see), the outputs
``on_train_batch_end`` receives, the logged values and the trained parameters must agree; so must the errors, with their notes,
between the two engine paths (Lightning words its errors differently).
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import loophooks.engine._epoch_loop as epoch_loop
from loophooks.engine import Callback, LoopModule, Trainer

# --- one model, one callback, for both trainers -----------------------------------------------------------


def _loader(n: int = 28, batch_size: int = 4) -> DataLoader[Any]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    return DataLoader(TensorDataset(x, x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])), batch_size=batch_size)


class Steps:
    """The step, parametrised by ``kind``: what ``training_step`` returns, and which batch misbehaves."""

    layer: nn.Linear
    kind: str

    def setup_net(self, kind: str) -> None:
        torch.manual_seed(0)
        self.layer = nn.Linear(4, 1)
        self.kind = kind

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        x, y = batch
        loss = nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss, on_step=True, on_epoch=True)  # type: ignore[attr-defined]
        if self.kind == "dict":
            return {"loss": loss, "scaled": loss.detach() * 2}
        if self.kind == "none" and batch_idx % 3 == 1:
            return None
        if self.kind == "nan" and batch_idx == 2:
            return loss * math.nan
        if self.kind == "raise" and batch_idx == 2:
            raise RuntimeError("boom in training_step")
        if self.kind == "detached" and batch_idx == 2:
            return loss.detach()
        return loss

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        if self.kind == "grad_off" and batch_idx == 1:
            torch.set_grad_enabled(False)  # the closure switches it on for its own run (both trainers)

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        torch.set_grad_enabled(True)

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.layer.parameters(), lr=0.05, momentum=0.9)


def _norm(module: Any) -> Any:
    grad = module.layer.weight.grad
    return None if grad is None else round(float(grad.norm()), 6)  # None: the batch's step was skipped


class Events:
    """Records each per-batch optimization hook a callback hears, with the step it hears it at."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def on_before_zero_grad(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
        self.events.append(("on_before_zero_grad", trainer.global_step))

    def on_before_backward(self, trainer: Any, pl_module: Any, loss: torch.Tensor) -> None:
        self.events.append(("on_before_backward", trainer.global_step, round(float(loss), 6)))

    def on_after_backward(self, trainer: Any, pl_module: Any) -> None:
        self.events.append(("on_after_backward", trainer.global_step, _norm(pl_module)))

    def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
        self.events.append(("on_before_optimizer_step", trainer.global_step, _norm(pl_module)))

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        shown = None if outputs is None else {k: round(float(v), 6) for k, v in outputs.items()}
        self.events.append(("on_train_batch_end", batch_idx, trainer.global_step, shown))


def _engine_classes() -> tuple[type, type]:
    class Model(Steps, LoopModule):
        def __init__(self, kind: str) -> None:
            LoopModule.__init__(self)
            self.setup_net(kind)

    class Recorder(Events, Callback):
        pass

    return Model, Recorder


def _lightning_classes() -> tuple[type, type]:
    pl = pytest.importorskip("pytorch_lightning")

    class Model(Steps, pl.LightningModule):
        def __init__(self, kind: str) -> None:
            pl.LightningModule.__init__(self)
            self.setup_net(kind)

    class Recorder(Events, pl.Callback):
        pass

    return Model, Recorder


_SETTINGS: dict[str, Any] = {
    "max_epochs": 2,
    "logger": False,
    "enable_progress_bar": False,
    "enable_checkpointing": False,
    "enable_model_summary": False,
    "num_sanity_val_steps": 0,
    "accelerator": "cpu",
    "devices": 1,
}


def _run(trainer_cls: Callable[..., Any], classes: tuple[type, type], kind: str, **options: Any) -> dict[str, Any]:
    model_cls, recorder_cls = classes
    model, recorder = model_cls(kind), recorder_cls()
    trainer = trainer_cls(callbacks=[recorder], **{**_SETTINGS, **options})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(model, _loader())
    return {
        "events": recorder.events,
        "global_step": trainer.global_step,
        "metrics": {k: round(float(v), 6) for k, v in trainer.callback_metrics.items()},
        "weight": model.layer.weight.detach().clone(),
        "bias": model.layer.bias.detach().clone(),
    }


@pytest.fixture
def fused_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the epochs for which the fused batch was built (each test asserts on it)."""
    built: list[int] = []
    real = epoch_loop.fused_batch

    def counting(closure: Any) -> Any:
        fn = real(closure)
        if fn is not None:
            built.append(1)
        return fn

    monkeypatch.setattr(epoch_loop, "fused_batch", counting)
    return built


def _general(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(epoch_loop, "fused_batch", lambda closure: None)


def _same(a: dict[str, Any], b: dict[str, Any], exact: bool) -> None:
    assert a["events"] == b["events"]
    assert a["global_step"] == b["global_step"]
    assert a["metrics"] == b["metrics"]
    tolerance = {"rtol": 0.0, "atol": 0.0} if exact else {"rtol": 1e-6, "atol": 1e-7}
    torch.testing.assert_close(a["weight"], b["weight"], **tolerance)
    torch.testing.assert_close(a["bias"], b["bias"], **tolerance)


# --- values: the fused batch, the general path and Lightning agree ----------------------------------------

CASES = [
    pytest.param("tensor", {}, id="tensor-loss"),
    pytest.param("tensor", {"accumulate_grad_batches": 3}, id="accumulate-3"),  # 7 batches: a short last window
    pytest.param("tensor", {"gradient_clip_val": 0.1}, id="clip-norm"),
    pytest.param("tensor", {"gradient_clip_val": 0.05, "gradient_clip_algorithm": "value"}, id="clip-value"),
    pytest.param("dict", {}, id="dict-with-extra"),
    pytest.param("none", {}, id="none-skips"),
    pytest.param("grad_off", {}, id="grad-switched-off"),
]


@pytest.mark.lightning
@pytest.mark.parametrize(("kind", "options"), CASES)
def test_fused_batch_equals_the_general_path_and_lightning(
    kind: str, options: dict[str, Any], fused_runs: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    lightning = _run(pytest.importorskip("pytorch_lightning").Trainer, _lightning_classes(), kind, **options)
    fused = _run(Trainer, _engine_classes(), kind, **options)
    assert fused_runs, "the fused batch did not run: this case no longer tests it"
    _general(monkeypatch)
    general = _run(Trainer, _engine_classes(), kind, **options)
    _same(fused, general, exact=True)  # the same arithmetic in the same order
    _same(fused, lightning, exact=False)


def test_the_general_path_runs_whenever_a_default_is_overridden(fused_runs: list[int]) -> None:
    """An override of optimizer_step, optimizer_zero_grad or backward, or checks on: no fused batch."""
    model_cls, recorder_cls = _engine_classes()

    class OwnZeroGrad(model_cls):  # type: ignore[misc, valid-type]
        def optimizer_zero_grad(self, epoch: int, batch_idx: int, optimizer: Any) -> None:
            optimizer.zero_grad(set_to_none=False)

    class OwnBackward(model_cls):  # type: ignore[misc, valid-type]
        def backward(self, loss: torch.Tensor, *args: Any, **kwargs: Any) -> None:
            loss.backward()

    for model, options in [
        (OwnZeroGrad("tensor"), {}),
        (OwnBackward("tensor"), {}),
        (model_cls("tensor"), {"check_hooks": True}),
    ]:
        Trainer(**{**_SETTINGS, **options}).fit(model, _loader())
    assert fused_runs == []
    Trainer(**_SETTINGS).fit(model_cls("tensor"), _loader())
    assert fused_runs == [1, 1]  # one per epoch


# --- errors: the same exception, message and notes from both engine paths ---------------------------------


def _error(kind: str, options: dict[str, Any]) -> BaseException:
    with pytest.raises(BaseException) as info:
        _run(Trainer, _engine_classes(), kind, **options)
    return info.value


@pytest.mark.parametrize(
    ("kind", "options", "match"),
    [
        ("raise", {}, "boom in training_step"),
        ("nan", {"terminate_on_nan": True}, "finite"),
        ("detached", {}, "requires grad"),
    ],
)
def test_errors_are_the_same_on_both_paths(
    kind: str, options: dict[str, Any], match: str, fused_runs: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    fused = _error(kind, options)
    assert fused_runs
    _general(monkeypatch)
    general = _error(kind, options)
    assert type(fused) is type(general)
    assert str(fused) == str(general)
    assert match in str(fused)
    assert getattr(fused, "__notes__", None) == getattr(general, "__notes__", None)
    assert fused.__notes__  # the place in the run is named


class _FailingSGD(torch.optim.SGD):
    """torch's SGD step (so the fused batch applies), with a zero_grad that fails on the third call."""

    calls = 0

    def zero_grad(self, set_to_none: bool = True) -> None:
        type(self).calls += 1
        if type(self).calls == 3:
            raise RuntimeError("zero_grad failed")
        super().zero_grad(set_to_none)


class _BadBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("backward failed")


@pytest.mark.parametrize("where", ["zero_grad", "backward"])
def test_a_failure_inside_a_default_body_is_noted_as_that_hook(
    where: str, fused_runs: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    model_cls, _ = _engine_classes()

    class Model(model_cls):  # type: ignore[misc, valid-type]
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            loss = super().training_step(batch, batch_idx)
            return _BadBackward.apply(loss) if where == "backward" and batch_idx == 2 else loss

        def configure_optimizers(self) -> Any:
            return (
                _FailingSGD(self.layer.parameters(), lr=0.05)
                if where == "zero_grad"
                else super().configure_optimizers()
            )

    def failure() -> BaseException:
        _FailingSGD.calls = 0
        with pytest.raises(RuntimeError, match=f"{where} failed") as info:
            Trainer(**_SETTINGS).fit(Model("tensor"), _loader())
        return info.value

    fused = failure()
    assert fused_runs
    _general(monkeypatch)
    general = failure()
    hook = "optimizer_zero_grad" if where == "zero_grad" else "backward"
    assert fused.__notes__ == general.__notes__
    assert f"running model hook {hook} at " in fused.__notes__[0]
