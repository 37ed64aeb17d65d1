"""The conformance suite: time for the whole CPU catalogue, and what the recorder costs per step.

The catalogue is run through the engine's adapter, each round paired with a round
through the Lightning adapter (``extra_info["ratios"]``: engine / Lightning). The
recorder's cost is the engine's time per step with the recording model against
the same model unrecorded (DataLoader and timing as in ``bench_step``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from _harness import SMOKE, clock, conformance_run, measure, recorder_run, scaled

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


def _catalogue_round(probes: bool) -> Callable[[], float]:
    """A round of the CPU catalogue through the engine, with the effect probes on or off.

    Off swaps the runner's probing layer for nothing (a benchmark-only switch: every
    real run probes), so the pair measures exactly what the probes add."""
    from loophooks.conformance import check
    from loophooks.conformance import _runner as runner

    def run() -> float:
        saved = runner._probed, runner._final_modes
        if not probes:
            runner._probed = lambda base, found, scenario: base  # type: ignore[assignment]
            runner._final_modes = lambda *args: None  # type: ignore[assignment]
        try:
            start = clock()
            check("engine", devices=("cpu",), pattern="fit-cpu" if SMOKE else None)
            return clock() - start
        finally:
            runner._probed, runner._final_modes = saved

    return run


def bench_probes(benchmark: Any) -> None:
    benchmark.group = "conformance"
    measure(
        benchmark,
        lambda: _catalogue_round(True),
        baseline=lambda: _catalogue_round(False),
        rounds=5,
        warmup_rounds=1,
        unit="catalogue",
    )
