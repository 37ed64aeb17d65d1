"""Regression: fit whose validation loaders are all empty, over two epochs.

Found by ``tests/engine/test_properties.py`` (shrunk by hand to the smallest scenario
that still diverged). The spec (like Lightning 2.6, which conforms here) counts
empty validation loaders as validation: in the second epoch the loop calls
``on_validation_model_zero_grad`` after the last training batch and runs a
validation of zero batches. The engine skipped it (fixed since; kept as a guard):

    call 61: missing call: on_validation_model_zero_grad (expected before callback.on_train_epoch_end)
"""

from __future__ import annotations

import pytest

from loophooks.conformance._runner import judge, run_scenario
from loophooks.conformance.adapters._registry import load_adapter
from loophooks.spec import Scenario

SCENARIOS = [
    pytest.param(Scenario(name="empty-val-list", train_batches=1, val_batches=(), max_epochs=2), id="no-val-loader"),
    pytest.param(Scenario(name="empty-val-loader", train_batches=1, val_batches=(0,), max_epochs=2), id="empty-loader"),
]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_empty_validation_loaders_conform(scenario: Scenario) -> None:
    run = run_scenario(load_adapter("engine"), scenario)
    verdict = judge(run, scenario, "strict")
    assert verdict.ok, verdict.message
