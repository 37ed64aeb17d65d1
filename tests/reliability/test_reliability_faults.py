"""Faults: an exception in any hook or step of any entry point.

For every distinct hook call of a few scenarios' expected sequences (read from
``loophooks.spec.expected_calls``, so a new hook in the spec is a new case here),
the test raises an exception at that call and checks the spec's rules
(``spec/ORDER.md``, ``Callback.on_exception``, ``teardown`` docstrings):

* the trace is the expected sequence up to the failing call, then every
  callback's ``on_exception`` and the datamodule's, and nothing else: no
  ``teardown``, no further hooks;
* the exception that reaches the caller is the very object raised, its traceback
  ends in the frame that raised it, and a PEP 678 note names the hook, its owner
  and where the loop was (stage, epoch, step, batch);
* nothing half-written is left in the run's folder.

KeyboardInterrupt follows the same rule (decided for the spec; Lightning 2.6
instead calls ``sys.exit(1)`` after ``on_exception``): ``on_exception`` runs,
the trainer's status becomes ``interrupted``, and the KeyboardInterrupt itself
propagates so that the caller (a notebook, a script) decides what happens.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from loophooks.conformance import _recorder
from loophooks.conformance._recorder import Recorder
from loophooks.spec import DATAMODULE_HOOKS, HOOKS, Call, Resume, Scenario, expected_calls

_TARGET_WORD = {"module": "model", "callback": "callback", "datamodule": "datamodule"}


class InjectedFault(RuntimeError):
    """The exception a test raises inside a hook; its identity is checked at the caller."""


class FaultAt(Recorder):
    """Records like the conformance recorder and raises at call number ``index`` (0-based), once."""

    def __init__(self, index: int, exc_type: type[BaseException] = InjectedFault) -> None:
        super().__init__()
        self.index = index
        self.exc_type = exc_type
        self.raised: BaseException | None = None

    def _record(self, *args: Any, **kwargs: Any) -> None:
        super()._record(*args, **kwargs)
        if self.raised is None and len(self.calls) == self.index + 1:
            self._raise_here(self.calls[-1])

    def _raise_here(self, call: Call) -> None:
        self.raised = self.exc_type(f"injected in {call.target}.{call.hook}")
        raise self.raised


def _adapter() -> Any:
    from loophooks.conformance.adapters._registry import load_adapter

    return load_adapter("engine")


FAULT_SCENARIOS = (
    Scenario(
        name="fit",
        max_epochs=2,
        train_batches=2,
        val_batches=(1,),
        num_sanity_val_steps=1,
        lr_scheduler="step",
        gradient_clip_val=1.0,
        callbacks=1,
        model_callbacks=1,
    ),
    Scenario(name="fit-datamodule", train_batches=1, val_batches=(1,), datamodule=True, callbacks=1),
    Scenario(name="fit-accumulate", train_batches=3, accumulate_grad_batches=2, limit_val_batches=0, callbacks=1),
    Scenario(name="fit-manual", train_batches=1, limit_val_batches=0, manual_optimization=True, callbacks=1),
    Scenario(name="resume", max_epochs=2, train_batches=1, val_batches=(1,), resume=Resume(0), callbacks=1),
    Scenario(name="resume-mid", train_batches=2, limit_val_batches=0, resume=Resume(0, 0), callbacks=1),
    Scenario(name="validate", fn="validate", val_batches=(1, 1), datamodule=True, callbacks=1),
    Scenario(name="test", fn="test", test_batches=(1,), callbacks=1),
    Scenario(name="predict", fn="predict", predict_batches=(1,), datamodule=True, callbacks=1),
)


def _fault_points() -> Iterator[Any]:
    """Each scenario's first call of each (target, hook), as a parameter."""
    for scenario in FAULT_SCENARIOS:
        seen: set[tuple[str, str]] = set()
        for index, call in enumerate(expected_calls(scenario)):
            key = (call.target, call.hook)
            if key in seen:
                continue
            seen.add(key)
            yield pytest.param(scenario, index, id=f"{scenario.name}-{index}-{call.target}.{call.hook}")


def _run(adapter: Any, scenario: Scenario, recorder: Recorder, root: Path) -> BaseException | None:
    """The recorder's own two-run protocol for a resume scenario, one run otherwise."""
    ckpt = root / "resume.ckpt"
    error = _recorder._one_run(adapter, scenario, recorder, str(root), saver_path=ckpt if scenario.resume else None)
    if scenario.resume is not None and error is None:
        assert ckpt.is_file(), "the first run saved no checkpoint"
        error = _recorder._one_run(adapter, scenario, recorder, str(root), ckpt_path=str(ckpt))
    return error


def _leftovers(root: Path) -> list[str]:
    """Files a crash may leave half-written: temporary files of atomic writes."""
    return sorted(p.name for p in root.rglob("*") if p.is_file() and (p.name.startswith(".") or p.suffix == ".tmp"))


@pytest.mark.parametrize(("scenario", "index"), list(_fault_points()))
def test_exception_in_any_hook(scenario: Scenario, index: int, tmp_path: Path) -> None:
    want = expected_calls(scenario)
    failing = want[index]
    recorder = FaultAt(index)
    error = _run(_adapter(), scenario, recorder, tmp_path)

    # the trace: the expected prefix, then on_exception for the callbacks and the datamodule, nothing else
    trace = recorder.calls
    assert recorder.raised is not None, f"{failing} was never called; the run ended with {error!r}"
    prefix = trace[: index + 1]
    for i, (expected, actual) in enumerate(zip(want, prefix)):
        assert expected.matches(actual), f"call {i}: expected {expected}, got {actual}"
    # the same object reaches the caller, its traceback ending where it was raised
    assert error is recorder.raised
    last = traceback.extract_tb(error.__traceback__)[-1]
    assert (last.filename, last.name) == (__file__, "_raise_here")

    # a note says which hook ran, whose it was, and where the loop was
    notes = [n for n in getattr(error, "__notes__", []) if isinstance(n, str)]
    assert notes, "no note says which hook was running"
    assert any(failing.hook in n and _TARGET_WORD[failing.target] in n for n in notes), notes
    assert any("epoch" in n and "step" in n for n in notes), notes
    if "batch_idx" in failing.args:
        assert any(f"batch {failing.args['batch_idx']}" in n for n in notes), notes

    tail = trace[index + 1 :]
    callbacks = scenario.callbacks + (scenario.model_callbacks if index > 0 else 0)
    # the datamodule's on_exception is recorded only where the table lists it for datamodules
    dm_listed = "on_exception" in DATAMODULE_HOOKS
    expected_tail = ["callback.on_exception"] * callbacks + (["datamodule.on_exception"] if scenario.datamodule and dm_listed else [])
    assert [f"{c.target}.{c.hook}" for c in tail] == expected_tail
    assert all(c.args.get("exception") == {"exception": "InjectedFault"} for c in tail), tail

    assert _leftovers(tmp_path) == []


# --- the exception object itself, with a plain model --------------------------------------------------


class _Model(torch.nn.Module):
    trainer: Any  # set by the engine when the run starts

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)
        self.fail_in: str | None = None
        self.fail_at: tuple[int, int] = (0, 0)  # (epoch, batch)
        self.exc: BaseException = InjectedFault("boom")
        self.teardowns = 0

    def _maybe_fail(self, hook: str, batch_idx: int) -> None:
        if hook == self.fail_in and (self.trainer.current_epoch, batch_idx) == self.fail_at:
            raise self.exc

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        self._maybe_fail("training_step", batch_idx)
        loss: torch.Tensor = self.layer(batch[0]).pow(2).mean()
        return loss

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self._maybe_fail("on_train_batch_end", batch_idx)

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self) -> Any:
        return DataLoader(TensorDataset(torch.randn(8, 2)), batch_size=2)

    def teardown(self, stage: str) -> None:
        self.teardowns += 1


class _Listener:
    def __init__(self) -> None:
        self.seen: list[BaseException] = []
        self.teardowns = 0

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self.seen.append(exception)

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self.teardowns += 1


def _trainer(root: Path, callbacks: list[Any], **options: Any) -> Any:
    from loophooks.engine import Trainer

    settings: dict[str, Any] = {"max_epochs": 2, "enable_progress_bar": False, "enable_checkpointing": False}
    settings.update(options)
    return Trainer(callbacks=callbacks, default_root_dir=str(root), **settings)


def test_note_names_hook_epoch_step_and_batch(tmp_path: Path) -> None:
    model = _Model()
    model.fail_in, model.fail_at = "on_train_batch_end", (1, 2)
    with pytest.raises(InjectedFault) as info:
        _trainer(tmp_path, []).fit(model)
    assert info.value is model.exc
    notes = getattr(info.value, "__notes__", [])
    assert len(notes) == 1, "one note, from the innermost hook"
    note = notes[0]
    # epoch 1, batch 2 of 4 batches/epoch: steps taken = 4 (epoch 0) + 3 (batches 0..2 of epoch 1)
    assert "on_train_batch_end" in note and "model" in note
    assert "epoch 1" in note and "global step 7" in note and "batch 2" in note


def test_traceback_points_at_the_users_hook(tmp_path: Path) -> None:
    model = _Model()
    model.fail_in = "training_step"
    with pytest.raises(InjectedFault) as info:
        _trainer(tmp_path, []).fit(model)
    frames = traceback.extract_tb(info.value.__traceback__)
    assert frames[-1].name == "_maybe_fail" and frames[-2].name == "training_step"
    assert frames[-1].filename == __file__
    assert info.value.__cause__ is None and not info.value.__suppress_context__


def test_exception_with_checks_on_is_the_same(tmp_path: Path) -> None:
    """The checked dispatch path (LOOPHOOKS_CHECKS) must not wrap or replace the exception either."""
    model = _Model()
    model.fail_in = "training_step"
    listener = _Listener()
    with pytest.raises(InjectedFault) as info:
        _trainer(tmp_path, [listener], check_hooks=True).fit(model)
    assert info.value is model.exc
    assert listener.seen == [model.exc]
    assert any("training_step" in n for n in getattr(info.value, "__notes__", []))


def test_keyboard_interrupt_runs_on_exception_then_propagates(tmp_path: Path) -> None:
    model = _Model()
    model.fail_in, model.fail_at = "training_step", (0, 1)
    model.exc = KeyboardInterrupt()
    listener = _Listener()
    trainer = _trainer(tmp_path, [listener])
    with pytest.raises(KeyboardInterrupt) as info:
        trainer.fit(model)
    assert info.value is model.exc
    assert listener.seen == [model.exc]
    assert trainer.state.status == "interrupted"
    assert (model.teardowns, listener.teardowns) == (0, 0)
    assert trainer.global_step == 1  # batch 0 stepped; batch 1 was interrupted in its step


def test_datamodule_hears_of_the_exception_after_the_callbacks(tmp_path: Path) -> None:
    from loophooks.engine import LoopDataModule

    order: list[tuple[str, BaseException]] = []

    class Data(LoopDataModule):
        def train_dataloader(self) -> Any:
            return DataLoader(TensorDataset(torch.randn(8, 2)), batch_size=2)

        def on_exception(self, exception: BaseException) -> None:
            order.append(("datamodule", exception))

    class Listener(_Listener):
        def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
            order.append(("callback", exception))

    model = _Model()
    model.fail_in, model.fail_at = "training_step", (0, 2)
    with pytest.raises(InjectedFault):
        _trainer(tmp_path, [Listener()]).fit(model, datamodule=Data())
    assert order == [("callback", model.exc), ("datamodule", model.exc)]


def test_a_trainer_is_usable_after_a_fault(tmp_path: Path) -> None:
    """The interrupted run leaves no stale hook name or stage behind; a new fit runs cleanly."""
    model = _Model()
    model.fail_in = "training_step"
    trainer = _trainer(tmp_path, [])
    with pytest.raises(InjectedFault):
        trainer.fit(model)
    assert trainer.state.hook is None and trainer.state.stage is None
    assert torch.is_grad_enabled()
    model.fail_in = None
    trainer = _trainer(tmp_path, [])
    trainer.fit(model)
    assert trainer.state.status == "finished" and trainer.global_step == 8


# --- nothing half-written ------------------------------------------------------------------------------


class _Unpicklable:
    def __reduce__(self) -> Any:
        raise InjectedFault("cannot pickle this")


def test_failed_save_leaves_the_previous_checkpoint_and_no_temporary_file(tmp_path: Path) -> None:
    from loophooks.engine import ModelCheckpoint, load_checkpoint

    class Saving(_Model):
        saves = 0

        def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
            self.saves += 1
            if self.saves == 2:  # the second save holds something that fails to pickle, mid-file
                checkpoint["zz_payload"] = _Unpicklable()

    model = Saving()
    ckpt_dir = tmp_path / "ckpts"
    callback = ModelCheckpoint(dirpath=str(ckpt_dir), filename="last", save_top_k=1)
    trainer = _trainer(tmp_path, [callback], enable_checkpointing=True)
    with pytest.raises(InjectedFault):
        trainer.fit(model)
    files = sorted(os.listdir(ckpt_dir))
    assert files == ["last.ckpt"], files  # no temporary file next to it
    checkpoint = load_checkpoint(ckpt_dir / "last.ckpt")
    assert checkpoint["epoch"] == 0 and "zz_payload" not in checkpoint  # the first save, intact


# --- the same rule on the real Lightning Trainer ---------------------------------------------------------


def _lightning_points() -> Iterator[Any]:
    """Every other fault point of the engine test above (all of them pass; half keeps CI lean)."""
    yield from list(_fault_points())[::2]


@pytest.mark.lightning
@pytest.mark.parametrize(("scenario", "index"), list(_lightning_points()))
def test_lightning_follows_the_same_rule(scenario: Scenario, index: int, tmp_path: Path) -> None:
    pytest.importorskip("pytorch_lightning")
    from loophooks.conformance.adapters._registry import load_adapter

    want = expected_calls(scenario)
    recorder = FaultAt(index)
    error = _run(load_adapter("lightning"), scenario, recorder, tmp_path)
    assert recorder.raised is not None and error is recorder.raised
    trace = recorder.calls
    for i, (expected, actual) in enumerate(zip(want, trace[: index + 1])):
        assert expected.matches(actual), f"call {i}: expected {expected}, got {actual}"
    callbacks = scenario.callbacks + (scenario.model_callbacks if index > 0 else 0)
    after = ["callback.on_exception"] * callbacks + (["datamodule.on_exception"] if scenario.datamodule else [])
    assert [f"{c.target}.{c.hook}" for c in trace[index + 1 :]] == after
