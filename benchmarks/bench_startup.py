"""Start-up: from ``Trainer(...)`` to the first ``training_step``, engine against Lightning.

The figure is stamped inside ``training_step``, so what a fit does afterwards (its
end, teardown) is not in it. Each engine round is paired with a Lightning round
(``extra_info["ratios"]`` is engine / Lightning); the hand loop (optimizer,
iterator, first batch) is the floor.
"""

from __future__ import annotations

from typing import Any

import pytest
from _harness import measure, startup_run

ROUNDS = 15


@pytest.mark.parametrize("loop", ["hand", "engine", "engine_checked", "loop_module", "lightning"])
def bench_startup(benchmark: Any, request: pytest.FixtureRequest, loop: str) -> None:
    paired = loop not in ("hand", "lightning")
    if paired or loop == "lightning":
        request.getfixturevalue("lightning")
    benchmark.group = "startup"
    measure(
        benchmark,
        lambda: startup_run(loop),
        baseline=(lambda: startup_run("lightning")) if paired else None,
        rounds=ROUNDS,
        unit="fit",
    )
