"""The Protocols' default bodies: what a class inherits by subclassing them explicitly."""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
import torch

import loophooks.spec as spec


class Model(torch.nn.Module, spec.ModelHooks, spec.DataHooks, spec.CheckpointHooks, spec.OptimizationMethods):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(3, 1)
        self.frozen = torch.nn.Dropout()


def test_explicit_subclass_instantiates_and_matches_structurally() -> None:
    model = Model()
    assert isinstance(model, spec.ModelHooks)
    assert isinstance(model, spec.DataHooks)
    assert isinstance(model, spec.BatchTransferHooks)
    assert not isinstance(torch.nn.Linear(1, 1), spec.ModelHooks)


def test_isinstance_of_a_concrete_subclass_is_nominal() -> None:
    class Other(torch.nn.Module, spec.ModelHooks, spec.DataHooks, spec.CheckpointHooks, spec.OptimizationMethods):
        pass

    assert not isinstance(Other(), Model)  # same hooks, unrelated class
    assert isinstance(Model(), Model) and isinstance(Other(), spec.ModelHooks)


def test_eval_and_train_hooks_switch_the_model_mode() -> None:
    model = Model()
    model.on_validation_model_eval()
    assert not model.training and not model.layer.training
    model.on_validation_model_train()
    assert model.training and model.layer.training
    model.on_test_model_eval()
    assert not model.training
    model.on_test_model_train()
    assert model.training
    model.on_predict_model_eval()
    assert not model.training


def test_eval_hook_switches_the_trainers_model_when_attached() -> None:
    model = Model()
    wrapper = torch.nn.Sequential(model)
    model.trainer = SimpleNamespace(model=wrapper)  # type: ignore[assignment]
    model.on_validation_model_eval()
    assert not wrapper.training and not model.training


def test_zero_grad_hook_releases_gradients() -> None:
    model = Model()
    model.layer(torch.ones(2, 3)).sum().backward()
    assert model.layer.weight.grad is not None
    model.on_validation_model_zero_grad()
    assert model.layer.weight.grad is None


@dataclass
class Pair:
    x: torch.Tensor
    label: str


Point = namedtuple("Point", ["a", "b"])


def test_transfer_moves_nested_tensors_and_keeps_structure() -> None:
    t = torch.ones(2)
    batch = {"xs": [t, (t, Point(t, 3))], "pair": Pair(t, "cat"), "n": 5}
    moved = Model().transfer_batch_to_device(batch, torch.device("meta"), 0)
    assert moved["xs"][0].device.type == "meta"
    assert isinstance(moved["xs"][1], tuple) and moved["xs"][1][0].device.type == "meta"
    assert isinstance(moved["xs"][1][1], Point) and moved["xs"][1][1].a.device.type == "meta" and moved["xs"][1][1].b == 3
    assert isinstance(moved["pair"], Pair) and moved["pair"].x.device.type == "meta" and moved["pair"].label == "cat"
    assert moved["n"] == 5
    assert batch["xs"][0].device.type == "cpu"  # the input is not changed


def test_transfer_uses_to_on_custom_objects() -> None:
    class Custom:
        def __init__(self) -> None:
            self.device: Any = None

        def to(self, device: torch.device) -> Custom:
            self.device = device
            return self

    moved = Model().transfer_batch_to_device(Custom(), torch.device("meta"), 0)
    assert moved.device == torch.device("meta")


def test_batch_hooks_return_the_batch_unchanged() -> None:
    batch = object()
    assert Model().on_before_batch_transfer(batch, 0) is batch
    assert Model().on_after_batch_transfer(batch, 0) is batch


@pytest.mark.parametrize("hook", ["train_dataloader", "val_dataloader", "test_dataloader", "predict_dataloader"])
def test_dataloader_hooks_raise_a_clear_error(hook: str) -> None:
    with pytest.raises(spec.HookNotImplementedError, match=f"`{hook}` must be implemented"):
        getattr(Model(), hook)()


def test_gradient_clipping_default_clips_by_norm_and_by_value() -> None:
    model = Model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    (model.layer(torch.ones(4, 3)) * 100).sum().backward()
    model.configure_gradient_clipping(opt, gradient_clip_val=0.5, gradient_clip_algorithm="norm")
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in model.layer.parameters()]))
    assert norm == pytest.approx(0.5, rel=1e-4)
    model.configure_gradient_clipping(opt, gradient_clip_val=0.01, gradient_clip_algorithm="value")
    assert all(p.grad.abs().max() <= 0.01 + 1e-7 for p in model.layer.parameters())


def test_gradient_clipping_default_does_nothing_without_a_value() -> None:
    model = Model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    (model.layer(torch.ones(4, 3)) * 100).sum().backward()
    before = model.layer.weight.grad.clone()
    model.configure_gradient_clipping(opt, gradient_clip_val=None)
    assert torch.equal(before, model.layer.weight.grad)


def test_optimization_defaults_step_zero_and_schedule() -> None:
    model = Model()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    weight = model.layer.weight.detach().clone()
    loss = model.layer(torch.ones(1, 3)).sum()
    model.backward(loss)
    model.optimizer_step(0, 0, opt)
    assert not torch.equal(weight, model.layer.weight)
    model.optimizer_zero_grad(0, 0, opt)
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())
    model.lr_scheduler_step(sched, None)
    assert opt.param_groups[0]["lr"] == 0.5
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.1)
    model.lr_scheduler_step(plateau, 1.0)
    model.lr_scheduler_step(plateau, 2.0)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)


def test_callback_defaults() -> None:
    class Cb(spec.Callback):
        pass

    cb = Cb()
    assert cb.state_dict() == {}
    assert cb.on_fit_start(None, None) is None
    assert isinstance(cb, spec.Callback)
