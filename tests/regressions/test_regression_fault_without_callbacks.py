"""Regression: a hook raises in a run with no callbacks; the core rules must accept the trace.

Found by ``tests/engine/test_properties.py`` (shrunk). With no callback (and no
datamodule) nobody records ``on_exception``, so the trace simply stops at the
hook that raised. The core rules read the end of a run from ``on_exception``
alone and reported the brackets the exception left open (``on_fit_start``,
``on_train_start``, ``on_train_epoch_start``) and an unended training batch,
for the engine and for Lightning alike: a bug in the rules, not in the trainers.
Fixed in ``spec/_rules.py`` (the scenario's ``fault`` marks the end too).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

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
def test_engine(level: str, assert_conforms: Callable[[str, Scenario, str], None]) -> None:
    assert_conforms("engine", SCENARIO, level)


@pytest.mark.lightning
@pytest.mark.parametrize("level", ["strict", "core"])
def test_lightning(level: str, assert_conforms: Callable[[str, Scenario, str], None]) -> None:
    assert_conforms("lightning", SCENARIO, level)
