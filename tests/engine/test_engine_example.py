"""The example trains to a useful accuracy, and a resumed run equals an uninterrupted one, bit for bit."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import torch


def _example() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "examples" / "glyph_digits.py"
    spec = importlib.util.spec_from_file_location("glyph_digits_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_learns_and_resume_equals_an_uninterrupted_run(tmp_path: Any) -> None:
    example = _example()
    straight = example.train(2, str(tmp_path / "straight"), progress=False)
    first = tmp_path / "resumed"
    example.train(1, str(first), progress=False)
    last = os.path.join(first, "checkpoints", "last.ckpt")
    assert os.path.isfile(last)
    resumed = example.train(2, str(first), ckpt_path=last, progress=False)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert example.accuracy(resumed) > 0.85
