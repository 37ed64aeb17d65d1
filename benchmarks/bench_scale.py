"""Scale: the engine's time per step as overridden hooks, callbacks and loaders are added.

Each round is paired with the smallest configuration (no extra hooks, no
callbacks, one loader), so ``extra_info`` holds the added cost per step under the
same load; ``report.py`` divides it by the hook calls added per step. That cost
per call should not grow with the number of hooks or callbacks. The loader hands
out one pre-made batch (``_harness.repeat_loader``), so a step is the loop and the
model's arithmetic, and the hooks' share is not lost in the DataLoader's.
"""

from __future__ import annotations

from typing import Any

import pytest
from _harness import OBSERVERS, loaders_run, measure, scale_run, scaled

STEPS = scaled(300, 12)
WARMUP = scaled(20, 2)
ROUNDS = 12
# A model hook call adds a few hundred ns to a ~200 µs step: it takes more rounds to see.
HOOK_ROUNDS = 30


@pytest.mark.parametrize("hooks", [len(OBSERVERS) // 4, len(OBSERVERS) // 2, len(OBSERVERS)])
def bench_overridden_hooks(benchmark: Any, hooks: int) -> None:
    benchmark.group = "scale-hooks"
    benchmark.extra_info["added_calls_per_step"] = hooks
    measure(
        benchmark,
        lambda: scale_run(hooks=hooks, steps=STEPS, warmup=WARMUP),
        baseline=lambda: scale_run(steps=STEPS, warmup=WARMUP),
        rounds=HOOK_ROUNDS,
    )


@pytest.mark.parametrize("callbacks", [1, 4, 16, 32])
def bench_callbacks(benchmark: Any, callbacks: int) -> None:
    benchmark.group = "scale-callbacks"
    benchmark.extra_info["added_calls_per_step"] = 2 * callbacks  # each has two per-step hooks
    measure(
        benchmark,
        lambda: scale_run(callbacks=callbacks, steps=STEPS, warmup=WARMUP),
        baseline=lambda: scale_run(steps=STEPS, warmup=WARMUP),
        rounds=ROUNDS,
    )


@pytest.mark.parametrize("loaders", [1, 2, 4, 8])
def bench_val_loaders(benchmark: Any, loaders: int) -> None:
    benchmark.group = "scale-loaders"
    batches = scaled(320, 16)
    measure(
        benchmark,
        lambda: loaders_run(loaders, batches, WARMUP),
        baseline=lambda: loaders_run(1, batches, WARMUP),
        rounds=ROUNDS,
        unit="batch",
    )
