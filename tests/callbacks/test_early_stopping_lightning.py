"""EarlyStopping, option by option, against the real Lightning 2.6 on the same job (tests/callbacks/conftest.py).

Both runs must stop at the same epoch and step, with the same ``stopped_epoch``,
``wait_count``, ``best_score``, ``stopping_reason`` and message. The monitored
values are scripted per epoch, so every expected value also follows by arithmetic
from the schedule (spelled out in the cases that matter).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import pytest

pytestmark = pytest.mark.lightning


def _es(**kwargs: Any) -> Callable[[Any, Path], list[Any]]:
    def make(module: Any, folder: Path) -> list[Any]:
        return [module.EarlyStopping(**kwargs)]

    return make


def _summary(run: Any) -> dict[str, Any]:
    es = run.callbacks[0]
    best = float(es.best_score)
    return {
        "error": type(run.error).__name__ if run.error else None,
        "epoch": run.trainer.current_epoch,
        "global_step": run.trainer.global_step,
        "stopped_epoch": es.stopped_epoch,
        "wait_count": es.wait_count,
        "best_score": best if math.isfinite(best) else str(best),
        "stopping_reason": es.stopping_reason.name,
        "message": es.stopping_reason_message,
    }


def _assert_same(lightning: Any, engine: Any) -> dict[str, Any]:
    expected, got = _summary(lightning), _summary(engine)
    for key in expected:
        if isinstance(expected[key], float):
            assert got[key] == pytest.approx(expected[key]), (key, expected, got)
        else:
            assert got[key] == expected[key], f"{key}: lightning {expected[key]!r}, engine {got[key]!r}"
    return expected


NAN = float("nan")
# VAL_LOSS (conftest) = [0.9, 0.7, 0.8, 0.5, 0.6, 0.55, 0.65, 0.3, 0.4, 0.45]
CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # patience 1: epoch 2 (0.8) does not improve on 0.7 -> stop at epoch 2
    "patience-1": ({"monitor": "val_loss", "patience": 1}, {"max_epochs": 10}),
    # patience 2: 0.8 (wait 1), 0.5 (best), 0.6 (1), 0.55 (2) -> stop at epoch 5
    "patience-2": ({"monitor": "val_loss", "patience": 2}, {"max_epochs": 10}),
    # min_delta 0.25: only 0.9 -> 0.5 (epoch 3) and 0.5 -> 0.3 (epoch 7) count
    "min-delta": ({"monitor": "val_loss", "patience": 3, "min_delta": 0.25}, {"max_epochs": 10}),
    "mode-max": ({"monitor": "val/acc", "mode": "max", "patience": 1}, {"max_epochs": 10}),
    "stopping-threshold": ({"monitor": "val_loss", "stopping_threshold": 0.55, "patience": 10}, {"max_epochs": 10}),
    "divergence-threshold": ({"monitor": "val/acc", "mode": "max", "divergence_threshold": 0.25, "patience": 10},
                             {"max_epochs": 10}),
    "check-on-train-epoch-end": ({"monitor": "train_epoch_metric", "patience": 1, "check_on_train_epoch_end": True},
                                 {"max_epochs": 10, "limit_val_batches": 0}),
    "check-on-validation-end": ({"monitor": "val_loss", "patience": 1, "check_on_train_epoch_end": False},
                                {"max_epochs": 10}),
    "val-every-2": ({"monitor": "val_loss", "patience": 1}, {"max_epochs": 10, "check_val_every_n_epoch": 2}),
    "val-interval": ({"monitor": "val_loss", "patience": 2}, {"max_epochs": 10, "val_check_interval": 0.5}),
    "not-strict": ({"monitor": "not_logged", "strict": False}, {"max_epochs": 3}),
    "strict": ({"monitor": "not_logged"}, {"max_epochs": 3}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_stops_as_lightning(both: Any, case: str) -> None:
    options, trainer_options = CASES[case]
    _assert_same(*both(_es(**options), **trainer_options))


def test_patience_arithmetic(both: Any) -> None:
    expected = _assert_same(*both(_es(monitor="val_loss", patience=2), max_epochs=10))
    # see CASES["patience-2"]: stops after epoch 5, 4 batches per epoch
    assert (expected["stopped_epoch"], expected["epoch"], expected["global_step"]) == (5, 6, 24)
    assert expected["best_score"] == pytest.approx(0.5)


@pytest.mark.parametrize("check_finite", [True, False])
def test_non_finite_as_lightning(both: Any, check_finite: bool) -> None:
    schedule = [0.9, 0.7, NAN, 0.5, 0.4, 0.3]
    _assert_same(*both(_es(monitor="val_loss", patience=3, check_finite=check_finite), val_loss=schedule,
                       max_epochs=6))


@pytest.mark.parametrize("log_rank_zero_only", [False, True])
def test_verbose_messages_as_lightning(both: Any, logs: Any, log_rank_zero_only: bool) -> None:
    with logs("pytorch_lightning.callbacks.early_stopping", "loophooks") as records:
        both(_es(monitor="val_loss", patience=2, verbose=True, log_rank_zero_only=log_rank_zero_only), max_epochs=10)
    texts: dict[str, list[str]] = {"lightning": [], "engine": []}
    for name, message in records:
        texts["engine" if name.startswith("loophooks") else "lightning"].append(message)
    assert texts["lightning"] and texts["engine"] == texts["lightning"]


def test_state_dict_as_lightning(both: Any) -> None:
    lightning, engine = both(_es(monitor="val_loss", patience=1), max_epochs=10)
    a, b = lightning.callbacks[0].state_dict(), engine.callbacks[0].state_dict()
    assert sorted(a) == sorted(b)
    assert {k: v for k, v in b.items() if k != "best_score"} == {k: v for k, v in a.items() if k != "best_score"}
    assert engine.callbacks[0].state_key == lightning.callbacks[0].state_key



def test_invalid_mode_is_refused_as_lightning() -> None:
    pytest.importorskip("pytorch_lightning")
    import pytorch_lightning.callbacks as plc

    import loophooks.callbacks as lhc
    from loophooks.engine import ConfigurationError

    with pytest.raises(Exception, match="mode"):
        plc.EarlyStopping(monitor="val_loss", mode="maximum")
    with pytest.raises(ConfigurationError, match="EarlyStopping"):
        lhc.EarlyStopping(monitor="val_loss", mode="maximum")


@pytest.mark.parametrize("options", [{"patience": -1}, {"min_delta": NAN}, {"stopping_threshold": "low"},
                                     {"patience": 1.5}])
def test_nonsense_options_are_refused_up_front(options: dict[str, Any]) -> None:
    import loophooks.callbacks as lhc
    from loophooks.engine import ConfigurationError

    with pytest.raises(ConfigurationError, match=f"EarlyStopping\\({next(iter(options))}="):
        lhc.EarlyStopping(monitor="val_loss", **options)
