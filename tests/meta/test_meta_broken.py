"""Deliberately broken trainers must fail the suite, with a message that names the problem.

Each trainer is the reference engine with one thing broken, patched at the one
place where the engine calls hooks (``loophooks.engine.Dispatcher``). The cases
run through the same path as the suite's own test (``run_scenario`` + ``judge``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from loophooks.conformance import Case, catalogue, judge, load_adapter, run_scenario
from loophooks.engine import Dispatcher

_CASES = {c.id: c for c in catalogue(["cpu"])}
_original_hook = Dispatcher.hook
_original_module_hook = Dispatcher.module_hook


def _message(case_id: str, level: str = "strict") -> str:
    case: Case = _CASES[case_id]
    run = run_scenario(load_adapter("engine"), case.scenario)
    verdict = judge(run, case.scenario, level)  # type: ignore[arg-type]
    assert not verdict.ok, f"the broken trainer passed {case_id}"
    return verdict.message


def _patch_hook(monkeypatch: pytest.MonkeyPatch, fn: Callable[..., Any]) -> None:
    monkeypatch.setattr(Dispatcher, "hook", fn)


def test_the_unbroken_engine_passes() -> None:
    for case_id in ("fit-cpu", "accumulate-cpu", "skip-epoch-cpu", "two-val-loaders-cpu"):
        case = _CASES[case_id]
        verdict = judge(run_scenario(load_adapter("engine"), case.scenario), case.scenario, "strict")
        assert verdict.ok, f"{case_id}: {verdict.message}"


def test_model_called_before_callbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    def hook(self: Dispatcher, name: str, *args: Any) -> Any:
        if name != "on_train_epoch_start":
            return _original_hook(self, name, *args)
        result = self.module_hook(name, *args)
        self.callback_hooks(name, *args)
        return result

    _patch_hook(monkeypatch, hook)
    message = _message("fit-cpu")
    assert "swapped: on_train_epoch_start came before callback.on_train_epoch_start" in message
    core = _message("fit-cpu", "core")
    assert re.search(r"callbacks-first: \[\d+\] callback\.on_train_epoch_start after the module's \[\d+\]", core), core


def test_a_hook_never_called(monkeypatch: pytest.MonkeyPatch) -> None:
    def hook(self: Dispatcher, name: str, *args: Any) -> Any:
        return None if name == "on_validation_epoch_end" else _original_hook(self, name, *args)

    _patch_hook(monkeypatch, hook)
    message = _message("fit-cpu")
    assert "missing calls: callback.on_validation_epoch_end, on_validation_epoch_end" in message
    assert "on_validation_end closes on_validation_epoch_start" in _message("fit-cpu", "core")


def test_minus_one_from_on_train_batch_start_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    def hook(self: Dispatcher, name: str, *args: Any) -> Any:
        result = _original_hook(self, name, *args)
        return None if name == "on_train_batch_start" else result

    _patch_hook(monkeypatch, hook)
    for level in ("strict", "core"):
        assert "on_train_batch_start returned -1 in epoch 0 at batch 1, but" in _message("skip-epoch-cpu", level)


def _zero_grad_late(monkeypatch: pytest.MonkeyPatch) -> None:
    # gradients zeroed just before the step instead of before backward: they are lost
    deferred: list[Callable[[], Any]] = []

    def hook(self: Dispatcher, name: str, *args: Any) -> Any:
        if name == "on_before_zero_grad":
            deferred.append(lambda: _original_hook(self, name, *args))
            return None
        if name == "on_before_optimizer_step":
            while deferred:
                deferred.pop(0)()
        return _original_hook(self, name, *args)

    def module_hook(self: Dispatcher, name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "optimizer_zero_grad":
            deferred.append(lambda: _original_module_hook(self, name, *args, **kwargs))
            return None
        return _original_module_hook(self, name, *args, **kwargs)

    _patch_hook(monkeypatch, hook)
    monkeypatch.setattr(Dispatcher, "module_hook", module_hook)


def test_zero_grad_after_backward(monkeypatch: pytest.MonkeyPatch) -> None:
    _zero_grad_late(monkeypatch)
    message = _message("fit-no-sanity-cpu")
    assert "out of order: callback.on_before_zero_grad, on_before_zero_grad, optimizer_zero_grad expected before" in message


def test_zero_grad_after_backward_breaks_a_core_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    _zero_grad_late(monkeypatch)
    assert "gradients zeroed after backward, before the optimizer step" in _message("fit-no-sanity-cpu", "core")


def test_wrong_dataloader_idx(monkeypatch: pytest.MonkeyPatch) -> None:
    def hook(self: Dispatcher, name: str, *args: Any) -> Any:
        if name.startswith("on_validation_batch") and len(args) >= 3 and isinstance(args[-1], int):
            args = (*args[:-1], 0)
        return _original_hook(self, name, *args)

    _patch_hook(monkeypatch, hook)
    message = _message("two-val-loaders-cpu")
    assert "callback.on_validation_batch_start: argument 'dataloader_idx': expected 1, got 0" in message
    # the core level, which does not compare arguments call by call, still sees it
    core = _message("two-val-loaders-cpu", "core")
    assert "batch_idx counts per loader" in core
    assert re.search(r"loader-source: \[\d+\] on_validation_batch_start\(dataloader_idx=0\) received a batch of validation loader 1", core), core


def test_loss_not_divided_for_accumulation(monkeypatch: pytest.MonkeyPatch) -> None:
    def hook(self: Dispatcher, name: str, *args: Any) -> Any:
        if name == "on_before_backward":
            args = (args[0] * self.trainer.accumulate_grad_batches,)
        return _original_hook(self, name, *args)

    _patch_hook(monkeypatch, hook)
    for level in ("strict", "core"):
        message = _message("accumulate-cpu", level)
        assert "is training_step's loss undivided; expected it divided by accumulate_grad_batches=2" in message


def test_detached_loss_at_on_before_backward(monkeypatch: pytest.MonkeyPatch) -> None:
    def hook(self: Dispatcher, name: str, *args: Any) -> Any:
        if name == "on_before_backward":
            args = (args[0].detach(),)
        return _original_hook(self, name, *args)

    _patch_hook(monkeypatch, hook)
    for level in ("strict", "core"):
        assert "loss does not require grad (it was detached)" in _message("fit-no-sanity-cpu", level)


def test_exception_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    from loophooks.engine import Trainer

    original_fit = Trainer.fit

    def fit(self: Trainer, *args: Any, **kwargs: Any) -> Any:
        try:
            return original_fit(self, *args, **kwargs)
        except RuntimeError:
            return None

    monkeypatch.setattr(Trainer, "fit", fit)
    for level in ("strict", "core"):
        assert "training_step raised RuntimeError, but fit() returned normally" in _message("fault-cpu", level)
