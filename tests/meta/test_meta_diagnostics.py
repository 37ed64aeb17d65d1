"""Honest diagnostics: messages in the loops' terms, calls around a core violation, a fault that
never fired said as such, and a recorder that takes any calling convention."""

from __future__ import annotations

import re
from typing import Any

import torch
from _mini_trainer import MiniAdapter

from loophooks.conformance import catalogue, judge, load_adapter, run_scenario, validate
from loophooks.conformance._recorder import Recorder
from loophooks.spec import Call, Fault, Scenario, expected_calls

_CASES = {c.id: c for c in catalogue(["cpu"])}
FIT = Scenario(name="two-epochs", max_epochs=2, train_batches=2, num_sanity_val_steps=0)


def _without(calls: list[Call], keep: Any) -> list[Call]:
    return [c for i, c in enumerate(calls) if keep(i, c)]


def test_a_missing_validation_batch_is_said_in_batches() -> None:
    trace = expected_calls(FIT)
    last_val = max(i for i, c in enumerate(trace) if c.hook == "on_validation_batch_start" and c.target == "module")
    # the whole last batch of the last validation run: its transfer, its hooks, its step
    start = last_val - 5
    end = next(i for i in range(last_val, len(trace)) if trace[i].hook == "on_validation_batch_end" and trace[i].target == "module")
    verdict = validate(trace[:start] + trace[end + 1 :], FIT)
    assert re.search(
        r"validation-cadence: validation \[\d+\] after epoch 1, batch 1 ran 1 batch, expected 2 batches", verdict.problems[0]
    ), verdict.message
    assert "first differing call:" in verdict.problems[0]


def test_a_missing_epoch_end_is_said_in_epochs() -> None:
    trace = expected_calls(FIT)
    ends = [i for i, c in enumerate(trace) if c.hook == "on_train_epoch_end"]
    second = set(ends[len(ends) // 2 :])  # callback's and module's of epoch 1
    verdict = validate(_without(trace, lambda i, c: i not in second), FIT)
    assert "epochs: epoch 1 is missing on_train_epoch_end" in verdict.problems[0], verdict.message


def test_an_extra_training_batch_is_said_in_batches() -> None:
    verdict = judge(*_run(MiniAdapter(bugs=["sanity_one_more"]), "two-val-loaders-cpu"), "strict")
    assert "validation-cadence: the sanity check [12] ran 2 batches of loader 0 + 3 batches of loader 1" in verdict.problems[0]


def _run(adapter: Any, case_id: str) -> tuple[Any, Scenario]:
    case = _CASES[case_id]
    return run_scenario(adapter, case.scenario), case.scenario


def test_a_core_violation_shows_the_calls_around_it() -> None:
    verdict = judge(*_run(MiniAdapter(bugs=["epoch_end_before_val"]), "fit-no-sanity-cpu"), "core")
    lines = verdict.message.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("containment:"))
    index = int(re.search(r"\[(\d+)\]", lines[first]).group(1))  # type: ignore[union-attr]
    shown = lines[first + 1 : first + 12]
    assert any(line.startswith(f"  > {index:>4}  on_validation_start(") for line in shown), verdict.message
    assert any("on_train_epoch_end(" in line for line in shown), verdict.message


def test_a_fault_that_never_fired_is_not_reported_as_raised() -> None:
    scenario = Scenario(name="fault-out-of-reach", train_batches=2, fault=Fault("training_step", 0, 5))
    verdict = judge(run_scenario(load_adapter("engine"), scenario), scenario, "core")
    assert verdict.problems[0] == (
        "the planted fault never fired: training_step was never called at epoch 0, batch 5 "
        "(the run returned normally before reaching it)"
    )
    assert "raised RuntimeError" not in verdict.message


def test_the_recorder_takes_callback_arguments_by_position_or_keyword() -> None:
    from loophooks.engine import Callback, LoopModule

    recorder = Recorder()
    model = recorder.model_class(LoopModule, LoopModule)()
    cb = recorder.callback_class(Callback)()
    batch = torch.zeros(2, 4)
    cb.on_train_batch_start(None, model, batch, 3)
    cb.on_train_batch_start(trainer=None, pl_module=model, batch=batch, batch_idx=3)
    cb.on_train_batch_start(None, model, batch, batch_idx=3)
    positional, keyword, mixed = recorder.calls
    assert positional == keyword == mixed
    assert dict(positional.args) == {"batch": {"shape": [2, 4]}, "batch_idx": 3}
    assert positional.training is True  # read from the pl_module passed by keyword too
