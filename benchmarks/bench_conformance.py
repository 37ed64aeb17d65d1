"""The conformance suite: time for the whole CPU catalogue, and what the recorder costs per step.

The catalogue is run through the engine's adapter, each round paired with a round
through the Lightning adapter (``extra_info["ratios"]``: engine / Lightning). The
recorder's cost is the engine's time per step with the recording model against
the same model unrecorded (DataLoader and timing as in ``bench_step``).
"""

from __future__ import annotations

from typing import Any

import pytest
from _harness import conformance_run, measure, recorder_run, scaled

STEPS = scaled(300, 12)
WARMUP = scaled(20, 2)


@pytest.mark.parametrize("adapter", ["engine", pytest.param("lightning", marks=pytest.mark.lightning)])
def bench_catalogue(benchmark: Any, request: pytest.FixtureRequest, adapter: str) -> None:
    request.getfixturevalue("lightning")
    benchmark.group = "conformance"
    paired = adapter == "engine"
    measure(
        benchmark,
        lambda: conformance_run(adapter, benchmark.extra_info),
        baseline=(lambda: conformance_run("lightning", {})) if paired else None,
        rounds=3,
        warmup_rounds=1,  # the first catalogue imports and compiles what later ones reuse
        unit="catalogue",
    )


@pytest.mark.parametrize("recording", [False, True], ids=["plain", "recorded"])
def bench_recorder(benchmark: Any, recording: bool) -> None:
    benchmark.group = "recorder"
    measure(
        benchmark,
        lambda: recorder_run(recording, STEPS, WARMUP),
        baseline=lambda: recorder_run(False, STEPS, WARMUP),
        rounds=12,
    )
