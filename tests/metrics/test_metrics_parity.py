"""Metric dictionaries, validate/test returns and metrics.csv: the engine against the real Lightning.

Each plan is run once per trainer (module-scoped); every snapshot a callback took
of ``callback_metrics`` / ``logged_metrics`` / ``progress_bar_metrics`` must be equal,
key for key and value for value. Lightning is the reference: nothing is pasted back.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

pytest.importorskip("pytorch_lightning")

from _parity import Plan, run  # noqa: E402

pytestmark = pytest.mark.lightning

PLANS: dict[str, tuple[Plan, dict[str, Any]]] = {
    # on_step+on_epoch with prog_bar, every reduction, batch-size weighting with a short last batch,
    # two validation/test loaders, values logged in epoch-end hooks
    "reductions": (
        {
            "training_step": [
                ("loss", "batch_mean", {"on_step": True, "on_epoch": True, "prog_bar": True}),
                ("mean", "batch_mean", {"on_epoch": True}),
                ("sum", "batch_idx", {"on_epoch": True, "reduce_fx": "sum"}),
                ("max", "batch_mean", {"on_epoch": True, "reduce_fx": "max"}),
                ("min", "batch_mean", {"on_epoch": True, "reduce_fx": "min"}),
                ("callable_max", "batch_idx", {"on_epoch": True, "reduce_fx": max}),
                ("torch_sum", "batch_idx", {"on_epoch": True, "reduce_fx": torch.sum}),
                ("step_only", "batch_idx", {}),
                ("hidden", "batch_idx", {"logger": False, "on_epoch": True}),
                ("given_bs", "batch_idx", {"on_epoch": True, "batch_size": 5}),
            ],
            "validation_step": [
                ("val", "batch_mean", {"prog_bar": True}),
                ("val_both", "batch_idx", {"on_step": True}),
                ("val_sum", "batch_idx", {"reduce_fx": "sum"}),
            ],
            "test_step": [("test", "batch_mean", {}), ("test_max", "batch_idx", {"reduce_fx": "max"})],
            "on_train_epoch_end": [("train_end", "epoch", {"prog_bar": True})],
            "on_validation_epoch_end": [("val_end", "epoch", {})],
            "on_test_epoch_end": [("test_end", "const:3.5", {})],
            "on_train_batch_end": [("batch_end", "batch_idx", {"on_epoch": True})],
        },
        {},
    ),
    "one_loader_accumulate": (
        {
            "training_step": [
                ("loss", "batch_mean", {"on_step": True, "on_epoch": True, "prog_bar": True}),
                ("int_valued", "batch_idx_int", {"on_epoch": True}),
            ],
            "validation_step": [("val", "batch_mean", {}), ("vstep", "batch_idx", {"on_step": True, "on_epoch": False})],
            "test_step": [("test", "batch_mean", {"add_dataloader_idx": False})],
        },
        {"eval_loaders": 1, "trainer_kwargs": {"accumulate_grad_batches": 2, "log_every_n_steps": 2}},
    ),
    "torchmetrics": (
        {
            "training_step": [("tm_mean", "metric:train_mean", {"on_step": True, "on_epoch": True})],
            "validation_step": [("tm_sum", "metric:val_sum", {})],
            "test_step": [("tm_sum", "metric:val_sum", {})],
        },
        {"eval_loaders": 1, "metrics": ("train_mean", "val_sum")},
    ),
}


@pytest.fixture(scope="module", params=sorted(PLANS))
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    if request.param == "torchmetrics":
        pytest.importorskip("torchmetrics")
    plan, kwargs = PLANS[request.param]
    lightning = run("lightning", plan, str(tmp_path_factory.mktemp("lightning")), **kwargs)
    engine = run("engine", plan, str(tmp_path_factory.mktemp("engine")), **kwargs)
    return lightning, engine


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-7) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, str) and isinstance(b, str) and a != b:
        try:
            return _close(float(a), float(b))
        except ValueError:
            return False
    return bool(a == b)


def test_callback_snapshots_match(runs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    lightning, engine = runs
    expected, actual = lightning["seen"], engine["seen"]
    for i, (want, got) in enumerate(zip(expected, actual)):
        assert _close(want, got), f"snapshot {i} ({want[0]} at {want[1]}):\n lightning: {want}\n engine:    {got}"
    assert len(expected) == len(actual), f"lightning took {len(expected)} snapshots, the engine {len(actual)}"


def test_callback_metrics_after_fit_match(runs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    lightning, engine = runs
    assert _close(lightning["after_fit"], engine["after_fit"]), (lightning["after_fit"], engine["after_fit"])


@pytest.mark.parametrize("stage", ["validate", "test"])
def test_returns_match(runs: tuple[dict[str, Any], dict[str, Any]], stage: str) -> None:
    lightning, engine = runs
    assert _close(lightning[stage], engine[stage]), (lightning[stage], engine[stage])


def test_csv_matches(runs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    lightning, engine = runs
    assert engine["csv_header"] == lightning["csv_header"]
    assert len(engine["csv_rows"]) == len(lightning["csv_rows"])
    for i, (want, got) in enumerate(zip(lightning["csv_rows"], engine["csv_rows"])):
        assert _close(want, got), f"row {i}:\n lightning: {want}\n engine:    {got}"
    assert engine["log_dir_tail"] == lightning["log_dir_tail"]
