"""Metric conformance: both trainers publish what spec/METRICS.md says, computed from the scenarios' data.

The expected dictionaries come from ``conformance/_metrics.py``'s arithmetic over the
data each scenario logs; Lightning (the system the spec describes) and the engine must
both produce them, snapshot for snapshot.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from loophooks.conformance._metrics import METRIC_SCENARIOS, MetricScenario, expected_metrics, run_metric_scenario


def _adapter(name: str) -> Any:
    if name == "lightning":
        pytest.importorskip("pytorch_lightning")
        from loophooks.conformance.adapters.lightning import LightningAdapter

        return LightningAdapter()
    from loophooks.conformance.adapters.engine import EngineAdapter

    return EngineAdapter()


@pytest.mark.parametrize("adapter", ["engine", pytest.param("lightning", marks=pytest.mark.lightning)])
@pytest.mark.parametrize("scenario", METRIC_SCENARIOS, ids=lambda s: s.name)
def test_metrics_conform(adapter: str, scenario: MetricScenario, tmp_path: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = run_metric_scenario(_adapter(adapter), scenario, str(tmp_path))
    want = expected_metrics(scenario)
    assert [(h, e) for h, e, _ in got["snapshots"]] == [(h, e) for h, e, _ in want["snapshots"]]
    for (hook, epoch, metrics), (_, _, expected) in zip(got["snapshots"], want["snapshots"]):
        assert metrics == pytest.approx(expected), f"{hook} at epoch {epoch}"
    if want["returns"] is None:
        assert got["returns"] is None
    else:
        assert got["returns"] == [pytest.approx(d) for d in want["returns"]]
