"""Errors: values the engine acts on are checked (checks off too), exceptions propagate unchanged with a note,
callbacks see on_exception, models are verified before work starts, the dispatcher's checks switch."""

from __future__ import annotations

import sys
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from loophooks.engine import Callback, ConfigurationError, HookValueError, LoopModule, Trainer
from loophooks.engine._progress import ProgressBar
from loophooks.spec import HookContractError, HookSignatureError


def _loader(n: int = 16) -> DataLoader[Any]:
    x = torch.randn(n, 4)
    return DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=4)


def _trainer(**kwargs: Any) -> Trainer:
    options: dict[str, Any] = {"enable_progress_bar": False, "enable_checkpointing": False, "max_epochs": 1}
    options.update(kwargs)
    return Trainer(**options)


class M(LoopModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(4, 1)

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        return nn.functional.mse_loss(self.layer(batch[0]), batch[1])

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _notes(exc: BaseException) -> list[str]:
    return list(getattr(exc, "__notes__", []))


@pytest.mark.parametrize(
    ("hook", "value", "expected"),
    [
        ("on_train_batch_start", 5, "None or -1"),
        ("on_before_batch_transfer", None, "the batch"),
        ("transfer_batch_to_device", None, "the batch"),
        ("on_after_batch_transfer", None, "the batch"),
        ("training_step", "a string", "a Tensor"),
        ("training_step", {"not_loss": 1}, "'loss'"),
        ("configure_optimizers", "sgd please", "an optimizer"),
    ],
)
def test_values_the_engine_acts_on_are_checked_with_checks_off(hook: str, value: Any, expected: str) -> None:
    def bad(self: Any, *args: Any) -> Any:
        return value

    model_cls = type("Bad", (M,), {hook: bad})
    with pytest.raises(HookValueError, match=expected) as info:
        _trainer(check_hooks=False).fit(model_cls(), _loader())
    assert info.value.hook == hook
    assert info.value.received == value


def test_an_exception_propagates_unchanged_with_a_note_and_on_exception_runs() -> None:
    seen: list[BaseException] = []
    boom = ValueError("boom")

    class Watch(Callback):
        def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
            seen.append(exception)

    class Faulty(M):
        def on_after_backward(self) -> None:
            if self.trainer.global_step == 2:
                raise boom

    trainer = _trainer(callbacks=[Watch()])
    with pytest.raises(ValueError) as info:
        trainer.fit(Faulty(), _loader())
    assert info.value is boom and seen == [boom]
    notes = _notes(boom)
    assert len(notes) == 1
    assert "on_after_backward" in notes[0] and "epoch 0" in notes[0] and "global step 2" in notes[0]
    assert "batch 2" in notes[0]
    assert trainer.state.status == "interrupted"


def test_datamodule_on_exception_runs_after_callbacks() -> None:
    order: list[str] = []

    class Watch(Callback):
        def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
            order.append("callback")

    from loophooks.engine import LoopDataModule

    class DM(LoopDataModule):
        def train_dataloader(self) -> Any:
            return _loader()

        def on_exception(self, exception: BaseException) -> None:
            order.append("datamodule")

    class Faulty(M):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            raise RuntimeError("x")

    with pytest.raises(RuntimeError):
        _trainer(callbacks=[Watch()]).fit(Faulty(), datamodule=DM())
    assert order == ["callback", "datamodule"]


def test_models_are_verified_before_work_starts() -> None:
    started: list[str] = []

    class WrongSignature(M):
        def setup(self, stage: str) -> None:
            started.append("setup")

        def on_train_batch_start(self) -> None:  # type: ignore[override]
            pass

    with pytest.raises(HookSignatureError, match="on_train_batch_start"):
        _trainer().fit(WrongSignature(), _loader())
    assert started == []
    with pytest.raises(ConfigurationError, match="nn.Module"):
        _trainer().fit(object(), _loader())  # type: ignore[arg-type]


def test_missing_step_or_optimizer_is_a_clear_error() -> None:
    class NoStep(nn.Module):
        def configure_optimizers(self) -> Any:
            return None

    with pytest.raises(ConfigurationError, match="training_step"):
        _trainer().fit(NoStep(), _loader())

    class NoOpt(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.Linear(4, 1)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            return self.layer(batch[0]).sum()

    with pytest.raises(ConfigurationError, match="configure_optimizers"):
        _trainer().fit(NoOpt(), _loader())


def test_bad_trainer_options_fail_at_construction() -> None:
    with pytest.raises(ConfigurationError, match="precision"):
        Trainer(precision="8-bit")
    with pytest.raises(ConfigurationError, match="accumulate_grad_batches"):
        Trainer(accumulate_grad_batches=0)
    with pytest.raises(ConfigurationError, match="limit_train_batches"):
        Trainer(limit_train_batches=1.5)
    with pytest.raises(ConfigurationError, match="gradient_clip_algorithm"):
        Trainer(gradient_clip_algorithm="max")


def test_checks_on_run_the_spec_contract_checks() -> None:
    class WrongType(M):
        def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
            return None

    with pytest.raises((HookContractError, HookValueError)):
        _trainer(check_hooks=True).fit(WrongType(), _loader())

    class WrongArgType(M):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            return {"loss": super().training_step(batch, batch_idx)}

    trainer = _trainer(check_hooks=True)
    trainer.fit(WrongArgType(), _loader())  # valid values pass the checks
    assert trainer.global_step == 4


def test_checks_default_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from loophooks.spec import checks_enabled, set_checks

    before = checks_enabled()
    set_checks(False)
    try:
        _check_switches(monkeypatch)
        set_checks(True)
        monkeypatch.delenv("LOOPHOOKS_CHECKS", raising=False)
        assert Trainer(enable_checkpointing=False).check_hooks is True
    finally:
        set_checks(before)


def _check_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPHOOKS_CHECKS", "1")
    assert Trainer(enable_checkpointing=False).check_hooks is True
    monkeypatch.setenv("LOOPHOOKS_CHECKS", "0")
    assert Trainer(enable_checkpointing=False).check_hooks is False
    monkeypatch.delenv("LOOPHOOKS_CHECKS")
    assert Trainer(enable_checkpointing=False).check_hooks is False


def test_dispatcher_skips_callbacks_that_do_not_override_a_hook() -> None:
    class OnlyEpochEnd(Callback):
        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            self.seen = True

    class DoesNothing(Callback):
        def on_train_batch_end(self, *args: Any) -> None:
            pass  # a body that does nothing is skipped too

    trainer = _trainer(callbacks=[OnlyEpochEnd(), DoesNothing()])
    trainer.fit(M(), _loader())
    d = trainer._dispatch
    assert d.callbacks_with("on_train_batch_end") == ()
    assert len(d.callbacks_with("on_train_epoch_end")) == 1


def test_progress_bar_prints_lines_when_stdout_is_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    assert not sys.stdout.isatty()
    trainer = Trainer(enable_checkpointing=False, max_epochs=1, logger=False)
    assert any(isinstance(c, ProgressBar) for c in trainer.callbacks)  # Lightning's default bar is always there
    trainer.fit(M(), _loader())
    captured = capsys.readouterr()
    assert "\r" not in captured.out and "Epoch 0" in captured.out  # plain lines for a file, no redraws


def test_early_stopping_stops_fit() -> None:
    from loophooks.engine import EarlyStopping

    class Flat(M):
        def validation_step(self, batch: Any, batch_idx: int) -> None:
            self.log("val_loss", torch.tensor(1.0))

    trainer = _trainer(max_epochs=20, callbacks=[EarlyStopping(monitor="val_loss", patience=2)])
    trainer.fit(Flat(), _loader(), _loader())
    assert trainer.should_stop and trainer.current_epoch == 3
