"""Behaviour of the engine's training loop: accumulation, clipping, schedulers, manual optimization, precision."""

from __future__ import annotations

import copy
import warnings
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from loophooks.engine import LoopModule, Trainer


def _data(n: int = 32, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    return TensorDataset(x, x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]))


def _trainer(**kwargs: Any) -> Trainer:
    options: dict[str, Any] = {"enable_progress_bar": False, "enable_checkpointing": False, "max_epochs": 1}
    options.update(kwargs)
    return Trainer(**options)


class Regressor(LoopModule):
    def __init__(self, lr: float = 0.1, optimizer: str = "sgd") -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layer = nn.Linear(4, 1)
        self.lr = lr
        self.optimizer = optimizer
        self.grad_norms: list[float] = []
        self.before_backward: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.mse_loss(self(x), y)

    def on_before_backward(self, loss: torch.Tensor) -> None:
        self.before_backward.append(loss.detach().clone())

    def on_before_optimizer_step(self, optimizer: Any) -> None:
        grads = [p.grad.flatten() for p in self.parameters() if p.grad is not None]
        self.grad_norms.append(float(torch.cat(grads).norm()))

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def _reference_accumulated(model: nn.Module, loader: DataLoader[Any], accumulate: int, lr: float) -> nn.Module:
    """A hand-written loop: loss / accumulate, backward each batch, step every ``accumulate`` batches and at the end."""
    model = copy.deepcopy(model)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    batches = list(loader)
    for i, (x, y) in enumerate(batches):
        if i % accumulate == 0:
            opt.zero_grad()
        (nn.functional.mse_loss(model(x), y) / accumulate).backward()
        if (i + 1) % accumulate == 0 or i + 1 == len(batches):
            opt.step()
    return model


@pytest.mark.parametrize("accumulate", [1, 2, 3])
def test_accumulation_matches_a_hand_written_loop(accumulate: int) -> None:
    loader = DataLoader(_data(40), batch_size=8)  # 5 batches: the last window is short when accumulate=2 or 3
    model = Regressor()
    reference = _reference_accumulated(model.layer, loader, accumulate, model.lr)
    trainer = _trainer(accumulate_grad_batches=accumulate)
    trainer.fit(model, loader)
    assert trainer.global_step == -(-5 // accumulate)
    torch.testing.assert_close(model.layer.weight, reference.weight, rtol=0, atol=1e-6)
    torch.testing.assert_close(model.layer.bias, reference.bias, rtol=0, atol=1e-6)
    # on_before_backward sees the divided loss
    x, y = next(iter(loader))
    first = nn.functional.mse_loss(Regressor().layer(x), y) / accumulate
    torch.testing.assert_close(model.before_backward[0], first.detach())


def test_norm_clipping_limits_the_update_and_hook_sees_unclipped_gradients() -> None:
    loader = DataLoader(_data(8), batch_size=8)
    model = Regressor(lr=1.0)
    before = model.layer.weight.detach().clone(), model.layer.bias.detach().clone()
    _trainer(gradient_clip_val=0.01).fit(model, loader)
    update = torch.cat([(model.layer.weight - before[0]).flatten(), (model.layer.bias - before[1]).flatten()])
    assert model.grad_norms[0] > 0.1  # on_before_optimizer_step ran before clipping
    assert float(update.detach().norm()) == pytest.approx(0.01, rel=1e-3)


def test_value_clipping_bounds_each_gradient() -> None:
    loader = DataLoader(_data(8), batch_size=8)
    model = Regressor(lr=1.0)
    before = model.layer.weight.detach().clone()
    _trainer(gradient_clip_val=0.001, gradient_clip_algorithm="value").fit(model, loader)
    assert float((model.layer.weight - before).detach().abs().max()) == pytest.approx(0.001, rel=1e-4)


class Scheduled(Regressor):
    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config
        self.scheduler_calls: list[Any] = []

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.log("val_loss", torch.tensor(1.0))

    def configure_optimizers(self) -> Any:
        opt = torch.optim.SGD(self.parameters(), lr=1.0)
        return {"optimizer": opt, "lr_scheduler": self.config(opt)}

    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        self.scheduler_calls.append((self.trainer.current_epoch, self.trainer.global_step, metric))
        super().lr_scheduler_step(scheduler, metric)


def test_step_scheduler_steps_after_each_optimizer_step_respecting_frequency() -> None:
    loader = DataLoader(_data(32), batch_size=8)  # 4 batches
    model = Scheduled(
        lambda opt: {
            "scheduler": torch.optim.lr_scheduler.StepLR(opt, 1, gamma=0.5),
            "interval": "step",
            "frequency": 2,
        }
    )
    trainer = _trainer(max_epochs=2, accumulate_grad_batches=1)
    trainer.fit(model, loader)
    assert [c[:2] for c in model.scheduler_calls] == [(0, 2), (0, 4), (1, 6), (1, 8)]
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.5**4)


def test_epoch_scheduler_steps_once_per_epoch() -> None:
    loader = DataLoader(_data(32), batch_size=8)
    model = Scheduled(lambda opt: torch.optim.lr_scheduler.StepLR(opt, 1, gamma=0.1))
    trainer = _trainer(max_epochs=3)
    trainer.fit(model, loader)
    assert [c[0] for c in model.scheduler_calls] == [0, 1, 2]
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(1e-3)


def test_plateau_scheduler_receives_the_monitored_metric() -> None:
    loader = DataLoader(_data(16), batch_size=8)
    model = Scheduled(
        lambda opt: {"scheduler": torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0), "monitor": "val_loss"}
    )
    trainer = _trainer(max_epochs=3, num_sanity_val_steps=0)
    trainer.fit(model, loader, loader)
    assert [float(c[2]) for c in model.scheduler_calls] == [1.0, 1.0, 1.0]
    assert trainer.optimizers[0].param_groups[0]["lr"] < 1.0


def test_plateau_scheduler_without_its_metric_is_a_clear_error() -> None:
    loader = DataLoader(_data(16), batch_size=8)
    model = Scheduled(
        lambda opt: {"scheduler": torch.optim.lr_scheduler.ReduceLROnPlateau(opt), "monitor": "missing_metric"}
    )
    with pytest.raises(ValueError, match="missing_metric"):
        _trainer().fit(model, loader, loader)


def test_configure_optimizers_forms() -> None:
    loader = DataLoader(_data(8), batch_size=8)

    def run(form: Any) -> Trainer:
        class M(Regressor):
            def configure_optimizers(self) -> Any:
                return form(self)

        trainer = _trainer()
        trainer.fit(M(), loader)
        return trainer

    sgd = lambda m: torch.optim.SGD(m.parameters(), lr=0.1)  # noqa: E731
    assert len(run(lambda m: sgd(m)).optimizers) == 1
    assert len(run(lambda m: [sgd(m)]).optimizers) == 1
    t = run(lambda m: ([o := sgd(m)], [torch.optim.lr_scheduler.StepLR(o, 1)]))
    assert t.lr_scheduler_configs[0].interval == "epoch"
    t = run(
        lambda m: {
            "optimizer": (o := sgd(m)),
            "lr_scheduler": {"scheduler": torch.optim.lr_scheduler.StepLR(o, 1), "interval": "step"},
        }
    )
    assert t.lr_scheduler_configs[0].interval == "step"
    t = run(lambda m: [{"optimizer": sgd(m)}])
    assert len(t.optimizers) == 1


class Manual(Regressor):
    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.hooks: list[str] = []

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        opt = self.optimizers()
        loss = super().training_step(batch, batch_idx)
        opt.zero_grad()
        self.manual_backward(loss)
        opt.step()
        opt.step()  # two steps per batch: global_step counts both
        return loss

    def on_after_backward(self) -> None:
        self.hooks.append("on_after_backward")


def test_manual_optimization_counts_optimizer_steps_and_runs_backward_hooks() -> None:
    loader = DataLoader(_data(24), batch_size=8)
    model = Manual()
    trainer = _trainer()
    trainer.fit(model, loader)
    assert trainer.global_step == 6
    assert model.hooks == ["on_after_backward"] * 3
    assert len(model.grad_norms) == 6  # on_before_optimizer_step per step


def test_plain_module_without_loopmodule_trains_with_default_hooks() -> None:
    class Plain(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.Linear(4, 1)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            return nn.functional.mse_loss(self.layer(x), y)

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            assert not self.training and not torch.is_grad_enabled()

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    loader = DataLoader(_data(16), batch_size=8)
    model = Plain()
    before = model.layer.weight.detach().clone()
    trainer = _trainer(max_epochs=2)
    trainer.fit(model, loader, loader)
    assert trainer.global_step == 4 and trainer.current_epoch == 2
    assert not torch.equal(before, model.layer.weight)
    assert model.training  # mode restored after validation


def test_bf16_autocast_runs_steps_in_bfloat16_on_cpu() -> None:
    seen: list[torch.dtype] = []

    class M(Regressor):
        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            out = self(batch[0])
            seen.append(out.dtype)
            return nn.functional.mse_loss(out.float(), batch[1])

    _trainer(precision="bf16-mixed").fit(M(), DataLoader(_data(8), batch_size=8))
    assert seen == [torch.bfloat16]


def _amp_contract(device: str) -> None:
    scaled: list[float] = []
    grads: list[torch.Tensor] = []

    class M(Regressor):
        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch  # small targets: float16 gradients of a 65536-scaled loss stay finite
            return nn.functional.mse_loss(self(x * 0.05).float(), y * 0.02)

        def on_before_backward(self, loss: torch.Tensor) -> None:
            scaled.append(float(loss))

        def on_before_optimizer_step(self, optimizer: Any) -> None:
            grads.append(self.layer.weight.grad.detach().float().clone())

    loader = DataLoader(_data(8), batch_size=8)
    model = M()
    reference = copy.deepcopy(model.layer).to(device)
    x, y = (t.to(device) for t in next(iter(loader)))
    with torch.autocast(device, dtype=torch.float16):
        ref_loss = nn.functional.mse_loss(reference(x * 0.05).float(), y * 0.02)
    ref_loss.backward()
    trainer = _trainer(precision="16-mixed", accelerator=device)
    trainer.fit(model, loader)
    scale = trainer.scaler.get_scale() if trainer.scaler is not None else 1.0
    assert trainer.scaler is not None
    assert scaled[0] == pytest.approx(float(ref_loss) * 65536.0, rel=1e-2)  # scaled loss at on_before_backward
    assert scale > 0
    torch.testing.assert_close(grads[0].cpu(), reference.weight.grad.float().cpu(), rtol=1e-2, atol=1e-3)


def test_16_mixed_on_cpu_runs_as_bf16_mixed_as_in_lightning() -> None:
    # Lightning 2.6 has no float16 AMP on the CPU: it warns and uses bf16-mixed (no scaler); the engine too
    # (tests/lightning_port/test_trainer_options.py compares the training with Lightning's)
    with pytest.warns(UserWarning, match="bf16-mixed"):
        trainer = _trainer(precision="16-mixed", accelerator="cpu")
    assert trainer.precision == "bf16-mixed" and trainer.scaler is None


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_16_mixed_on_cuda_keeps_the_hook_contracts() -> None:
    _amp_contract("cuda")


def test_max_steps_stops_mid_epoch_after_the_epoch_end_hooks() -> None:
    ends: list[int] = []

    class M(Regressor):
        def on_train_epoch_end(self) -> None:
            ends.append(self.trainer.global_step)

    trainer = _trainer(max_epochs=5, max_steps=3)
    trainer.fit(M(), DataLoader(_data(16), batch_size=8))
    assert trainer.global_step == 3 and ends == [2, 3]


def test_on_train_batch_start_minus_one_ends_the_epoch() -> None:
    class M(Regressor):
        def on_train_batch_start(self, batch: Any, batch_idx: int) -> Any:
            return -1 if batch_idx == 1 else None

    trainer = _trainer(max_epochs=2)
    trainer.fit(M(), DataLoader(_data(32), batch_size=8))
    assert trainer.global_step == 2 and trainer.current_epoch == 2


class _Overstated:
    """A sized loader whose ``len`` claims more batches than it yields (the training loop reads a sized loader
    straight from its iterator, engine/_data.py ``BatchIterator.source``)."""

    def __init__(self, n: int, claimed: int) -> None:
        self.n, self.claimed = n, claimed

    def __len__(self) -> int:
        return self.claimed

    def __iter__(self) -> Any:
        g = torch.Generator().manual_seed(0)
        for _ in range(self.n):
            x = torch.randn(4, 4, generator=g)
            yield x, x.sum(1, keepdim=True)


def _overstated_fit(base: type, trainer_cls: Any) -> list[tuple[Any, ...]]:
    events: list[tuple[Any, ...]] = []

    class Model(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.layer = nn.Linear(4, 1)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            return nn.functional.mse_loss(self.layer(batch[0]), batch[1])

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            events.append(("validation_step", self.trainer.global_step))

        def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
            events.append(("on_train_batch_end", batch_idx, self.trainer.is_last_batch))

        def on_train_epoch_end(self) -> None:
            events.append(("on_train_epoch_end", self.trainer.global_step, float(self.layer.bias)))

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    options = {"max_epochs": 2, "logger": False, "enable_progress_bar": False, "enable_checkpointing": False}
    options.update(enable_model_summary=False, num_sanity_val_steps=0, accelerator="cpu", devices=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer_cls(**options).fit(Model(), _Overstated(4, 6), _Overstated(2, 2))
    return events


@pytest.mark.lightning
def test_a_loader_that_overstates_its_length_ends_the_epoch_as_in_lightning() -> None:
    """4 batches where ``len`` says 6: the epoch ends after the 4th, none of them is the last, and the epoch-end
    validation never comes; Lightning 2.6.6 does the same."""
    pl = pytest.importorskip("pytorch_lightning")
    engine = _overstated_fit(LoopModule, Trainer)
    assert engine == _overstated_fit(pl.LightningModule, pl.Trainer)
    assert [e[1] for e in engine if e[0] == "on_train_epoch_end"] == [4, 8]
