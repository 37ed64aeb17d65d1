"""Regression: a fault must not make an undefined scenario look defined.

Found by ``tests/engine/test_properties.py`` (shrunk). ``limit_val_batches=0.5`` of a
one-batch validation loader selects no batch: Lightning raises before training
(and so does the engine), and ``expected_calls`` rejects the scenario with
``ValueError``. With a fault in the first ``training_step`` the generator raises
the fault before it reaches the validation limit and returns a sequence, which
no trainer can produce (both raise the configuration error first).
"""

from __future__ import annotations

import pytest

from loophooks.spec import Fault, Scenario, expected_calls

SCENARIO = Scenario(
    name="fault-hides-undefined",
    train_batches=1,
    val_batches=(1,),
    limit_val_batches=0.5,
    num_sanity_val_steps=0,
    callbacks=0,
)


def test_without_the_fault_the_scenario_is_undefined() -> None:
    with pytest.raises(ValueError, match="selects no batch"):
        expected_calls(SCENARIO)


def test_with_a_fault_the_scenario_is_still_undefined() -> None:
    with pytest.raises(ValueError, match="selects no batch"):
        expected_calls(SCENARIO.with_(fault=Fault("training_step", 0, 0)))
