"""Regression: -1 at the epoch's last batch, then a checkpoint saved at the epoch's end.

Found by ``tests/engine/test_properties.py`` (shrunk). The trace matched the spec's
sequence, but the core rule ``batch-pairs`` flagged the skipped batch: between
its ``on_train_batch_start`` and the module's ``on_train_epoch_end`` came the
module's ``on_save_checkpoint`` (the saving callback's ``on_train_epoch_end``
runs before the module's), which the rule did not allow there. Fixed in
``spec/_rules.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from loophooks.spec import Resume, Scenario

SCENARIO = Scenario(
    name="skip-then-save",
    train_batches=1,
    val_batches=(),
    num_sanity_val_steps=0,
    callbacks=0,
    skip_epoch_at=(0, 0),
    resume=Resume(0, None),
)


@pytest.mark.parametrize("level", ["strict", "core"])
def test_engine(level: str, assert_conforms: Callable[[str, Scenario, str], None]) -> None:
    assert_conforms("engine", SCENARIO, level)


@pytest.mark.lightning
@pytest.mark.parametrize("level", ["strict", "core"])
def test_lightning(level: str, assert_conforms: Callable[[str, Scenario, str], None]) -> None:
    assert_conforms("lightning", SCENARIO, level)
