"""Distributed conformance: the rank rules judge traces correctly, and the engine keeps them in 2 processes."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import pytest

from loophooks.conformance._distributed import (
    DISTRIBUTED_FEATURES,
    DistributedResult,
    distributed_scenarios,
    global_scenario,
    rank_problems,
    run_distributed,
)
from loophooks.spec import Call, Scenario, expected_calls

# --- the judge, on traces built from the spec (no processes) -----------------------------------------


def _result(scenario: Scenario, rank1: list[Call] | None = None, **changes: Any) -> DistributedResult:
    expected = list(expected_calls(scenario))
    ranks = {0: expected, 1: rank1 if rank1 is not None else [c for c in expected if c.hook != "prepare_data"]}
    return DistributedResult(scenario, 2, traces=ranks, errors={0: None, 1: None}, **changes)


@pytest.fixture
def fit() -> Scenario:
    return distributed_scenarios(["fit"])[0]


def test_the_spec_trace_on_rank_zero_and_without_prepare_data_elsewhere_passes(fit: Scenario) -> None:
    assert rank_problems(_result(fit)) == []
    assert rank_problems(_result(fit), level="core") == []


def test_prepare_data_on_another_rank_is_caught(fit: Scenario) -> None:
    problems = rank_problems(_result(fit, rank1=list(expected_calls(fit))))
    assert any("rank 1: prepare_data ran 1 times; expected 0" in p for p in problems)


def test_a_different_order_on_one_rank_is_caught(fit: Scenario) -> None:
    trace = [c for c in expected_calls(fit) if c.hook != "prepare_data"]
    i = next(k for k, c in enumerate(trace) if c.hook == "on_train_start")
    trace[i], trace[i + 1] = trace[i + 1], trace[i]
    problems = rank_problems(_result(fit, rank1=trace))
    assert any(p.startswith(f"rank 1: call {i} differs from rank 0") for p in problems)


def test_ranks_ending_differently_are_caught(fit: Scenario) -> None:
    result = _result(fit)
    result.errors = {0: None, 1: "RuntimeError: boom"}
    assert any("ended differently" in p for p in rank_problems(result))


def test_a_missing_rank_is_caught(fit: Scenario) -> None:
    result = _result(fit)
    del result.traces[1]
    assert rank_problems(result) == ["no trace from rank(s) [1]"]


def test_the_job_gives_each_rank_the_scenarios_batches() -> None:
    s = Scenario(train_batches=3, val_batches=(2, 1), test_batches=(1,), predict_batches=(2,))
    g = global_scenario(s, 2)
    assert (g.train_batches, g.val_batches, g.test_batches, g.predict_batches) == (6, (4, 2), (2,), (4,))


def test_scenarios_come_from_the_catalogue() -> None:
    names = [s.name for s in distributed_scenarios()]
    assert names == [f"ddp-{f}" for f in DISTRIBUTED_FEATURES]
    with pytest.raises(ValueError, match="unknown catalogue features"):
        distributed_scenarios(["no-such-feature"])


def test_an_adapter_without_the_capability_is_reported_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    from loophooks.conformance.adapters import _registry
    from loophooks.conformance.adapters.engine import EngineAdapter

    class NotDistributed:
        name = "single"
        capabilities = EngineAdapter.capabilities - {"distributed"}

    monkeypatch.setattr(_registry, "load_adapter", lambda name=None: NotDistributed())
    results = run_distributed("single", ["fit"])
    assert [r.unsupported for r in results] == ["adapter 'single' does not declare the 'distributed' capability"]
    assert not results[0].passed


# --- the engine, in two processes (gloo) -------------------------------------------------------------

FEATURES_RUN = ("fit", "datamodule", "resume-mid-epoch", "predict", "fault")  # the CLI runs them all


def test_the_engine_keeps_the_rank_rules_in_two_processes() -> None:
    results = run_distributed("engine", FEATURES_RUN, world_size=2, timeout_s=150)
    failed = {r.scenario.name: r.problems for r in results if not r.passed}
    assert not failed, failed
    by_name = {r.scenario.name: r for r in results}
    fault = by_name["ddp-fault"]
    assert all(e is not None and e.startswith("RuntimeError") for e in fault.errors.values())
    resumed = [c.hook for c in by_name["ddp-resume-mid-epoch"].traces[1]]
    assert "on_load_checkpoint" in resumed  # rank 1 resumed from the file rank 0 wrote
    assert replace(by_name["ddp-fit"].scenario, name="x") == replace(distributed_scenarios(["fit"])[0], name="x")


# --- the real Lightning Trainer, in two processes (gloo) ---------------------------------------------


def lightning_ddp() -> Any:
    """Lightning's adapter declaring "distributed" (its own adapter does not, yet): workers load it by path."""
    from loophooks.conformance._adapter import CAPABILITIES
    from loophooks.conformance.adapters.lightning import LightningAdapter

    class LightningDDP(LightningAdapter):
        name = "lightning-ddp"
        capabilities = CAPABILITIES

    return LightningDDP()


@pytest.mark.lightning
def test_lightning_keeps_the_same_rank_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-rank expectation (the spec's trace; prepare_data on local rank 0 only) holds for the real Lightning.

    Known difference: under gloo, Lightning evaluates under ``no_grad`` instead of
    ``inference_mode`` (inference tensors and gloo collectives do not mix), so the
    ``test`` scenario diverges on the autograd state only.
    """
    pytest.importorskip("pytorch_lightning")
    here = os.path.dirname(os.path.abspath(__file__))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")])))
    monkeypatch.syspath_prepend(here)
    results = run_distributed(
        f"{os.path.splitext(os.path.basename(__file__))[0]}:lightning_ddp",
        ("fit", "accumulate", "datamodule", "resume-mid-epoch", "fault", "test"),
        timeout_s=150,
    )
    by_name = {r.scenario.name: r for r in results}
    failed = {n: r.problems for n, r in by_name.items() if not r.passed and n != "ddp-test"}
    assert not failed, failed
    problems = by_name["ddp-test"].problems
    assert problems and all("autograd: expected inference, got no_grad" in p for p in problems), problems
