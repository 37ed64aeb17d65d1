"""Per-step overhead: the engine against a hand-written loop and Lightning, same DataLoader.

A step is timed between batch fetches, after a warm-up (see ``_harness``). Each
round of every benchmark here is paired with a round of the hand-written loop, so
``extra_info["ratio_median"]`` is the loop's cost relative to the bare loop under
the same load; the hand loop paired with itself shows the noise floor.
``hand_lightning_order`` is the hand loop with its four calls in the order the
hooks fix (zero_grad between the forward and backward, as in Lightning): the
quotient of the engine's ratio and its ratio is the engine's own cost.
"""

from __future__ import annotations

from typing import Any

import pytest
from _harness import measure, scaled, step_run

# Steps per round: enough that the start-up is far away and a round lasts well over
# the timer's resolution, few enough that rounds stay short. The first WARMUP steps
# of each round are not counted.
STEPS = {"tiny": scaled(300, 12), "mlp": scaled(60, 6)}
WARMUP = {"tiny": scaled(20, 2), "mlp": scaled(5, 1)}
ROUNDS = {"tiny": 30, "mlp": 16}
# The MLP's single rounds vary by several percent (allocator and cache state): resolving its 2 % target
# against the hooks'-order loop takes about three times the rounds.
ROUNDS_IN_ORDER = {"tiny": 30, "mlp": 48}

LOOPS = [
    "hand",
    "hand_lightning_order",
    "engine",
    "engine_checked",
    pytest.param("lightning", marks=pytest.mark.lightning),
]


@pytest.mark.parametrize("size", ["tiny", "mlp"])
@pytest.mark.parametrize("loop", LOOPS)
def bench_step(benchmark: Any, request: pytest.FixtureRequest, loop: str, size: str) -> None:
    if loop == "lightning":
        request.getfixturevalue("lightning")
    benchmark.group = f"step-{size}"
    measure(
        benchmark,
        lambda: step_run(loop, size, STEPS[size], WARMUP[size]),
        baseline=lambda: step_run("hand", size, STEPS[size], WARMUP[size]),
        rounds=ROUNDS[size],
    )


@pytest.mark.parametrize("size", ["tiny", "mlp"])
def bench_step_in_hooks_order(benchmark: Any, size: str) -> None:
    """The engine paired round by round with the hand loop in the hooks' order: the engine's own cost, measured
    directly rather than as a quotient of two ratios from different rounds (which adds both rounds' noise)."""
    benchmark.group = f"step-{size}-hooks-order"
    measure(
        benchmark,
        lambda: step_run("engine", size, STEPS[size], WARMUP[size]),
        baseline=lambda: step_run("hand_lightning_order", size, STEPS[size], WARMUP[size]),
        rounds=ROUNDS_IN_ORDER[size],
    )
