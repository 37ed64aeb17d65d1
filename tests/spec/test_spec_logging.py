"""The logging table (spec/_logging.py) equals Lightning 2.6's per-hook rules, hook for hook."""

from __future__ import annotations

import pytest

from loophooks.spec import HOOKS, LOGGING, logging_levels


@pytest.mark.lightning
def test_logging_table_is_lightnings() -> None:
    pytest.importorskip("pytorch_lightning")
    from pytorch_lightning.trainer.connectors.logger_connector.fx_validator import _FxValidator

    assert set(LOGGING) == set(_FxValidator.functions)
    for hook, theirs in _FxValidator.functions.items():
        ours = LOGGING[hook]
        if theirs is None:
            assert ours is None, hook
            continue
        assert ours is not None, hook
        assert (ours.allowed_on_step, ours.allowed_on_epoch, ours.default_on_step, ours.default_on_epoch) == (
            theirs["allowed_on_step"], theirs["allowed_on_epoch"], theirs["default_on_step"], theirs["default_on_epoch"]
        ), hook


def test_hooks_without_a_logging_rule_refuse_logging() -> None:
    from loophooks.engine._log_options import LoggingError, resolve_levels

    unruled = sorted(n for n in HOOKS if n not in LOGGING)
    assert unruled == ["on_predict_model_eval", "predict_dataloader"]  # absent from Lightning's table too
    for hook in unruled:
        with pytest.raises(LoggingError, match=hook):
            resolve_levels("key", hook, None, None)
    assert logging_levels("training_step") is not None and logging_levels("on_fit_start") is None
