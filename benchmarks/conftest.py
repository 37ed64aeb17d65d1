"""Shared set-up for the benchmarks: one CPU thread, quiet Lightning, versions in the JSON."""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest

# The benchmark modules import their helpers as `_harness` (no package, importlib mode).
sys.path.insert(0, os.path.dirname(__file__))

import _harness  # noqa: E402


_LOAD: dict[str, Any] = {}


def pytest_configure(config: pytest.Config) -> None:
    import torch

    torch.set_num_threads(1)  # the figures are per core; 2-core CI machines share the other
    _harness.quiet()
    _harness.pin_allocator()
    _LOAD["start"] = _loadavg()
    # One clock for everything: pytest-benchmark's timer (pytest.ini sets time.process_time).
    timer = config.getoption("benchmark_timer", None)
    if timer is not None:
        from pytest_benchmark.utils import load_timer

        _harness.set_clock(load_timer(str(timer)).target)


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict[str, Any]) -> None:
    import torch

    machine_info["torch"] = torch.__version__
    machine_info["torch_threads"] = torch.get_num_threads()
    machine_info["loophooks"] = _version("loophooks")
    machine_info["cpu_count"] = os.cpu_count()
    machine_info["clock"] = _harness.clock_name()
    try:
        import pytorch_lightning

        machine_info["pytorch_lightning"] = pytorch_lightning.__version__
    except ImportError:
        machine_info["pytorch_lightning"] = None
    # Other work on the machine moves the figures; the report shows how busy it was.
    machine_info["loadavg_start"] = _LOAD.get("start")
    machine_info["loadavg_end"] = _loadavg()


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: Any, output_json: dict[str, Any]) -> None:
    """The memory readings of ``bench_memory`` are not timings; they ride along in the JSON."""
    output_json["memory"] = dict(_harness.MEMORY)


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "?"


@pytest.fixture
def lightning() -> Any:
    """The ``pytorch_lightning`` module; the benchmark is skipped without it."""
    return pytest.importorskip("pytorch_lightning")
