"""LambdaCallback, OnExceptionCheckpoint, Timer / max_time, GradientAccumulationScheduler and ModelSummary
against the real Lightning 2.6 on the same job (tests/callbacks/conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
import torch

pytestmark = pytest.mark.lightning


# --- LambdaCallback ------------------------------------------------------------------------------------

_LAMBDA_HOOKS = ("setup", "on_fit_start", "on_train_epoch_start", "on_train_batch_end", "on_validation_end",
                 "on_train_epoch_end", "on_train_end", "on_fit_end", "teardown")


def test_lambda_callback_fires_as_lightning(both: Any) -> None:
    calls: dict[str, list[tuple[str, int, int]]] = {}

    def make(module: Any, folder: Path) -> list[Any]:
        seen = calls.setdefault(module.__name__, [])

        def recorder(name: str) -> Callable[..., None]:
            def record(trainer: Any, *args: Any, **kwargs: Any) -> None:
                seen.append((name, trainer.current_epoch, trainer.global_step))

            return record

        return [module.LambdaCallback(**{name: recorder(name) for name in _LAMBDA_HOOKS})]

    lightning, engine = both(make, max_epochs=2)
    assert lightning.error is None and engine.error is None
    expected, got = calls["pytorch_lightning.callbacks"], calls["loophooks.callbacks"]
    assert len(expected) > 10 and got == expected


def test_lambda_callback_unknown_hook_is_a_type_error_as_lightning() -> None:
    pytest.importorskip("pytorch_lightning")
    import pytorch_lightning.callbacks as plc

    import loophooks.callbacks as lhc

    with pytest.raises(TypeError):
        plc.LambdaCallback(on_train_epoch_ends=print)
    with pytest.raises(TypeError, match="on_train_epoch_ends"):
        lhc.LambdaCallback(on_train_epoch_ends=print)


def test_lambda_callback_takes_the_hooks_lightnings_takes() -> None:
    pytest.importorskip("pytorch_lightning")
    import inspect

    import pytorch_lightning.callbacks as plc

    import loophooks.callbacks as lhc
    from loophooks.spec import CALLBACK_HOOKS

    lightning = set(inspect.signature(plc.LambdaCallback).parameters)
    for name in sorted(set(CALLBACK_HOOKS) | lightning):
        if name in lightning:
            lhc.LambdaCallback(**{name: print})  # accepted by both
        else:
            with pytest.raises(TypeError):
                plc.LambdaCallback(**{name: print})
            with pytest.raises(TypeError, match=name):
                lhc.LambdaCallback(**{name: print})


# --- OnExceptionCheckpoint -----------------------------------------------------------------------------


def _on_exception(module: Any, folder: Path) -> list[Any]:
    return [module.OnExceptionCheckpoint(dirpath=str(folder))]


def _fail_at_epoch_1(module: Any, batch_idx: int) -> None:
    if module.trainer.current_epoch == 1 and batch_idx == 2:
        raise KeyError("boom")


def test_on_exception_checkpoint_as_lightning(both: Any) -> None:
    lightning, engine = both(_on_exception, extra=_fail_at_epoch_1)
    assert isinstance(lightning.error, KeyError) and isinstance(engine.error, KeyError)
    assert engine.files() == lightning.files() == ["on_exception.ckpt"]
    steps = [torch.load(run.folder / "on_exception.ckpt", weights_only=False)["global_step"]
             for run in (lightning, engine)]
    assert steps[1] == steps[0] == 6  # 4 batches of epoch 0, 2 of epoch 1


def test_on_exception_checkpoint_is_removed_after_a_clean_run_as_lightning(both: Any) -> None:
    lightning, engine = both(_on_exception, max_epochs=1)
    assert lightning.error is None and engine.error is None
    assert engine.files() == lightning.files() == []


def test_fit_last_resumes_from_the_on_exception_checkpoint(one: Any) -> None:
    crashed = one("engine", _on_exception, extra=_fail_at_epoch_1)
    assert isinstance(crashed.error, KeyError)
    resumed = one("engine", _on_exception, max_epochs=2, fit_kwargs={"ckpt_path": "last"})
    assert resumed.error is None
    assert resumed.trainer.ckpt_path == str(crashed.folder / "on_exception.ckpt")
    assert resumed.trainer.global_step == 8


# --- Timer and max_time ----------------------------------------------------------------------------------


class _Clock:
    """A clock the job advances by one second per training batch, for both frameworks' Timer."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


def _ticking(clock: _Clock) -> Callable[..., None]:
    def tick(module: Any, batch_idx: int) -> None:
        clock.now += 1.0

    return tick


@pytest.mark.parametrize(("duration", "interval"), [({"seconds": 6}, "step"), ("00:00:00:06", "epoch"),
                                                    ({"seconds": 0}, "step")])
def test_timer_stops_as_lightning(both: Any, monkeypatch: pytest.MonkeyPatch, duration: Any, interval: str) -> None:
    pytest.importorskip("pytorch_lightning")
    import pytorch_lightning.callbacks.timer as pl_timer

    import loophooks.engine.callbacks._timer as lh_timer

    clock = _Clock()
    monkeypatch.setattr(pl_timer, "time", clock)
    monkeypatch.setattr(lh_timer, "time", clock)

    def make(module: Any, folder: Path) -> list[Any]:
        clock.now = 0.0
        return [module.Timer(duration=duration, interval=interval)]

    lightning, engine = both(make, extra=_ticking(clock), max_epochs=5)
    assert lightning.error is None and engine.error is None
    assert engine.trainer.global_step == lightning.trainer.global_step
    assert engine.trainer.current_epoch == lightning.trainer.current_epoch
    expected = {"step": 6, "epoch": 8}[interval] if duration != {"seconds": 0} else 0
    assert engine.trainer.global_step == expected  # 1 s per batch: 6 batches, or the end of the epoch past 6 s
    a, b = lightning.callbacks[0], engine.callbacks[0]
    assert b.time_elapsed() == a.time_elapsed() and b.time_remaining() == a.time_remaining()
    assert b.state_dict() == a.state_dict()


def test_max_time_adds_a_timer_as_lightning(both: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pytorch_lightning")
    import pytorch_lightning.callbacks.timer as pl_timer

    import loophooks.engine.callbacks._timer as lh_timer

    clock = _Clock()
    monkeypatch.setattr(pl_timer, "time", clock)
    monkeypatch.setattr(lh_timer, "time", clock)
    lightning, engine = both(lambda module, folder: [], extra=_ticking(clock), max_time={"seconds": 9},
                             max_epochs=None)
    assert lightning.error is None and engine.error is None
    assert engine.trainer.global_step == lightning.trainer.global_step == 9
    assert engine.trainer.max_epochs == lightning.trainer.max_epochs == -1


@pytest.mark.parametrize("duration", ["1:2:3", "00:00:61", {"weeks": "x"}])
def test_bad_durations_are_refused_as_lightning(duration: Any) -> None:
    pytest.importorskip("pytorch_lightning")
    import pytorch_lightning.callbacks as plc

    import loophooks.callbacks as lhc
    from loophooks.engine import ConfigurationError

    with pytest.raises(Exception):  # noqa: B017 - Lightning raises MisconfigurationException or TypeError
        plc.Timer(duration=duration)
    with pytest.raises(ConfigurationError, match="Timer"):
        lhc.Timer(duration=duration)


# --- GradientAccumulationScheduler ---------------------------------------------------------------------


def test_gradient_accumulation_scheduler_as_lightning(both: Any) -> None:
    def make(module: Any, folder: Path) -> list[Any]:
        return [module.GradientAccumulationScheduler(scheduling={1: 2, 2: 4})]

    lightning, engine = both(make, max_epochs=3)
    assert lightning.error is None and engine.error is None
    # 4 batches per epoch: 4 steps, then 2, then 1
    assert engine.trainer.global_step == lightning.trainer.global_step == 7
    assert engine.trainer.accumulate_grad_batches == lightning.trainer.accumulate_grad_batches == 4
    a = dict(lightning.trainer.lightning_module.named_parameters())
    b = dict(engine.trainer.lightning_module.named_parameters())
    for name in a:
        torch.testing.assert_close(b[name], a[name])


def test_gradient_accumulation_scheduler_refuses_what_lightning_refuses(both: Any) -> None:
    def make(module: Any, folder: Path) -> list[Any]:
        return [module.GradientAccumulationScheduler(scheduling={1: 2})]

    lightning, engine = both(make, accumulate_grad_batches=2)
    assert isinstance(lightning.error, ValueError) and isinstance(engine.error, ValueError)
    for bad in ({}, {-1: 2}, {0: 0}):
        import pytorch_lightning.callbacks as plc

        import loophooks.callbacks as lhc

        with pytest.raises(Exception) as expected:  # noqa: B017
            plc.GradientAccumulationScheduler(scheduling=dict(bad))
        with pytest.raises(Exception) as got:  # noqa: B017
            lhc.GradientAccumulationScheduler(scheduling=dict(bad))
        assert isinstance(got.value, TypeError) == isinstance(expected.value, TypeError), bad


# --- ModelSummary ----------------------------------------------------------------------------------------


def _summary_module(base: type, example: bool) -> Any:
    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Dropout(0.1))
            self.out = torch.nn.Linear(16, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(self.inner(x))

    class Net(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.block = Block()
            self.norm = torch.nn.BatchNorm1d(2)
            self.norm.eval()
            self.frozen = torch.nn.Linear(2, 2)
            self.frozen.requires_grad_(False)
            self.scale = torch.nn.Parameter(torch.ones(1))  # held by the module itself: "other params"
            if example:
                self.example_input_array = torch.zeros(3, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.frozen(self.norm(self.block(x))) * self.scale

    return Net()


@pytest.mark.parametrize("example", [False, True])
@pytest.mark.parametrize("max_depth", [1, 2, -1, 0])
def test_summary_table_as_lightning(max_depth: int, example: bool) -> None:
    pytest.importorskip("pytorch_lightning")
    import pytorch_lightning as pl
    from pytorch_lightning.utilities.model_summary import summarize as pl_summarize

    from loophooks.engine import LoopModule
    from loophooks.engine.callbacks._model_summary import summarize

    expected = str(pl_summarize(_summary_module(pl.LightningModule, example), max_depth=max_depth))
    assert str(summarize(_summary_module(LoopModule, example), max_depth=max_depth)) == expected


def test_enable_model_summary_logs_lightnings_table(both: Any, logs: Any, without_rich_defaults: None) -> None:
    with logs("pytorch_lightning.callbacks.model_summary", "loophooks") as records:
        lightning, engine = both(lambda module, folder: [], max_epochs=1, enable_model_summary=True)
    tables = {"lightning": [], "engine": []}  # type: dict[str, list[str]]
    for name, message in records:
        if "Total params" in message:
            tables["engine" if name.startswith("loophooks") else "lightning"].append(message)
    assert len(tables["lightning"]) == 1 and tables["engine"] == tables["lightning"]


def _default_kinds(trainer: Any) -> list[str]:
    return sorted(type(c).__name__ for c in trainer.callbacks if type(c).__name__.endswith(("Summary", "ProgressBar")))


@pytest.mark.parametrize("rich_installed", [False, True])
def test_default_summary_and_bar_follow_rich_as_in_lightning(rich_installed: bool, request: Any) -> None:
    pytest.importorskip("pytorch_lightning")
    import pytorch_lightning as pl

    from loophooks.callbacks import ModelSummary
    from loophooks.engine import Trainer

    if rich_installed:
        pytest.importorskip("rich")
    else:
        request.getfixturevalue("without_rich_defaults")
    lightning = _default_kinds(pl.Trainer(logger=False))
    assert lightning == (["RichModelSummary", "RichProgressBar"] if rich_installed else ["ModelSummary", "TQDMProgressBar"])
    assert _default_kinds(Trainer()) == lightning
    assert not any(isinstance(c, ModelSummary) for c in Trainer(enable_model_summary=False).callbacks)
