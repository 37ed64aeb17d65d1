"""Memory: what a run holds after 10 steps and after 10,000 is the same.

Not a timing, so a plain test with a tolerance. Python-level allocations are
traced with ``tracemalloc``; a per-step leak of any object (a kept loss tensor or
output dict) is tens of bytes per step, hundreds of KiB over 10,000 steps. The
resident set size catches memory held outside Python (tensor storage, autograd
graphs). Readings are taken after ``gc.collect()``:

* current traced memory at step EARLY and at step LATE;
* the traced peak over the WINDOW steps after EARLY and over the WINDOW steps
  before LATE (equal windows, so each sees the same garbage-collection cycles);
* RSS at EARLY and at LATE.

(torch's optimizers keep a few ``record_function`` handles alive, about 1 B/step;
that is inside the tolerance, and the hand-written loop has it too.)
"""

from __future__ import annotations

import gc
import os
import tracemalloc
from typing import Any

import pytest
from _harness import MEMORY, SMOKE, TINY, engine_trainer, loop_model_class, repeat_loader

EARLY = 10
WINDOW = 50 if SMOKE else 200
LATE = 300 if SMOKE else 10_000
TRACED_SLACK = 64 * 1024  # bytes: well below one leaked small object per step over LATE - EARLY steps
RSS_SLACK = 16 * 1024 * 1024  # bytes: allocator noise; a graph or a batch leaked per step is far more


def _rss() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _probe_class() -> type[Any]:
    from loophooks.engine import Callback

    class Probe(Callback):
        """Reads memory at the ends of training batches EARLY, EARLY + WINDOW, LATE - WINDOW and LATE."""

        def __init__(self) -> None:
            self.current: dict[int, int] = {}
            self.peak: dict[int, int] = {}
            self.rss: dict[int, int | None] = {}

        def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            step = batch_idx + 1
            if step not in (EARLY, EARLY + WINDOW, LATE - WINDOW, LATE):
                return
            gc.collect()
            self.current[step], self.peak[step] = tracemalloc.get_traced_memory()
            self.rss[step] = _rss()
            tracemalloc.reset_peak()  # the next reading's peak is that of the steps since this one

    return Probe


@pytest.mark.parametrize("checks", [False, True], ids=["checks_off", "checks_on"])
def test_memory_flat(checks: bool) -> None:
    probe = _probe_class()()
    model = loop_model_class()("tiny")
    loader = repeat_loader(LATE, TINY["features"], TINY["classes"])
    trainer = engine_trainer(check_hooks=checks, callbacks=[probe], limit_val_batches=0)
    tracemalloc.start()
    try:
        trainer.fit(model, train_dataloaders=loader)
    finally:
        tracemalloc.stop()
    grown = probe.current[LATE] - probe.current[EARLY]
    peak_early, peak_late = probe.peak[EARLY + WINDOW], probe.peak[LATE]
    rss_early, rss_late = probe.rss[EARLY], probe.rss[LATE]
    steps = LATE - EARLY
    MEMORY[f"checks_{'on' if checks else 'off'}"] = {
        "early_step": EARLY,
        "late_step": LATE,
        "window": WINDOW,
        "traced_early": probe.current[EARLY],
        "traced_late": probe.current[LATE],
        "traced_peak_early": peak_early,
        "traced_peak_late": peak_late,
        "rss_early": rss_early,
        "rss_late": rss_late,
    }
    assert grown <= TRACED_SLACK, f"traced memory grew by {grown} B over {steps} steps ({grown / steps:.1f} B/step)"
    assert peak_late <= peak_early + TRACED_SLACK, (
        f"traced peak over steps {LATE - WINDOW}-{LATE}: {peak_late} B; over steps {EARLY}-{EARLY + WINDOW}: {peak_early} B"
    )
    if rss_early is not None and rss_late is not None:
        assert rss_late - rss_early <= RSS_SLACK, f"RSS grew by {(rss_late - rss_early) / 2**20:.1f} MiB over {steps} steps"
