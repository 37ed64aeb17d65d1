"""Ordinary Lightning jobs (jobs/*.py) and their mechanical ports give the same numbers, results and files.

Each job file is written for Lightning only; the port is the same text through
``loophooks.porting.rename_imports``. Expected values are the Lightning run's.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest
import torch

from tests.lightning_port.conftest import JOBS

pytest.importorskip("pytorch_lightning")
pytestmark = pytest.mark.lightning

Results = Callable[[str], tuple[dict[str, Any], dict[str, Any]]]


def _same(engine: Any, lightning: Any, where: str) -> None:
    if isinstance(lightning, torch.Tensor):
        assert torch.allclose(engine.double(), lightning.double(), rtol=1e-5, atol=1e-6), where
    elif isinstance(lightning, float):
        assert engine == pytest.approx(lightning, rel=1e-5, abs=1e-6), where
    elif isinstance(lightning, dict):
        assert sorted(engine) == sorted(lightning), where
        for key in lightning:
            _same(engine[key], lightning[key], f"{where}[{key!r}]")
    elif isinstance(lightning, (list, tuple)):
        assert len(engine) == len(lightning), where
        for i, (a, b) in enumerate(zip(engine, lightning)):
            _same(a, b, f"{where}[{i}]")
    else:
        assert engine == lightning, where


@pytest.mark.parametrize("job", sorted(p.stem for p in JOBS.glob("*.py")))
def test_the_port_matches_lightning(job: str, job_results: Results) -> None:
    lightning, engine = job_results(job)
    for key in lightning:
        _same(engine[key], lightning[key], key)
