"""Regression: a hook raises in a run with no callbacks; the core rules must accept the trace.

Found by ``tests/test_properties.py`` (shrunk). With no callback (and no
datamodule) nobody records ``on_exception``, so the trace simply stops at the
hook that raised. The core rules read the end of a run from ``on_exception``
alone and reported the brackets the exception left open (``on_fit_start``,
``on_train_start``, ``on_train_epoch_start``) and an unended training batch,
for the engine and for Lightning alike: a bug in the rules, not in the trainers.
Fixed in ``spec/_rules.py`` (the scenario's ``fault`` marks the end too).
"""

from __future__ import annotations

import pytest

from loophooks.conformance._runner import judge, run_scenario
from loophooks.conformance.adapters._registry import load_adapter
from loophooks.spec import Fault, Scenario

SCENARIO = Scenario(
    name="fault-without-callbacks",
    train_batches=1,
    val_batches=(),
    num_sanity_val_steps=0,
    callbacks=0,
    fault=Fault("training_step", 0, 0),
)


@pytest.mark.parametrize("level", ["strict", "core"])
def test_engine(level: str) -> None:
    run = run_scenario(load_adapter("engine"), SCENARIO)
    verdict = judge(run, SCENARIO, level)  # type: ignore[arg-type]
    assert verdict.ok, verdict.message


@pytest.mark.lightning
@pytest.mark.parametrize("level", ["strict", "core"])
def test_lightning(level: str) -> None:
    pytest.importorskip("pytorch_lightning")
    run = run_scenario(load_adapter("lightning"), SCENARIO)
    verdict = judge(run, SCENARIO, level)  # type: ignore[arg-type]
    assert verdict.ok, verdict.message
