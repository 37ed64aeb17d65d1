"""The adapter author's kit: ``loophooks init-adapter`` for a trainer that is not the engine.

A small framework, ``minitrain``, is written here: its model and callback bases
take the spec's hook defaults, and its trainer implements ``test`` and
``predict`` (``fit`` and ``validate`` raise). The test writes the template with
the CLI, fills in its marked places as an author would, declares the unwritten
entry points as deviations, and runs the suite through the pytest plugin from a
folder outside this repository, with a configuration of that folder's own.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from loophooks.conformance import Report, catalogue
from loophooks.conformance._cli import main

MINITRAIN = '''
"""A tiny trainer: test and predict only."""
from typing import Any

import torch

from loophooks.spec import Callback as CallbackHooks, CheckpointHooks, ConfigureCallbacks, DataHooks, ModelHooks


class MiniModule(torch.nn.Module, ModelHooks, DataHooks, CheckpointHooks, ConfigureCallbacks):
    def __init__(self) -> None:
        super().__init__()
        self.current_epoch = 0
        self.automatic_optimization = True


class MiniCallback(CallbackHooks):
    pass


class MiniTrainer:
    def __init__(self, callbacks: list, **options: Any) -> None:
        self.callbacks = list(callbacks)
        self.options = options
        self.current_epoch = 0

    def _callbacks(self, name: str, model: Any, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, name)(self, model, *args)

    def _both(self, name: str, model: Any, *args: Any) -> Any:
        self._callbacks(name, model, *args)
        return getattr(model, name)(*args)

    def _evaluate(self, stage: str, model: Any) -> list:
        self.callbacks += list(model.configure_callbacks() or [])
        model.prepare_data()
        self._callbacks("setup", model, stage)
        model.setup(stage)
        model.configure_model()
        loader = getattr(model, f"{stage}_dataloader")()
        modes = {name: module.training for name, module in model.named_modules()}
        getattr(model, f"on_{stage}_model_eval")()
        outputs = []
        with torch.inference_mode():
            self._both(f"on_{stage}_start", model)
            self._both(f"on_{stage}_epoch_start", model)
            for i, batch in enumerate(loader):
                batch = model.on_before_batch_transfer(batch, 0)
                batch = model.transfer_batch_to_device(batch, torch.device("cpu"), 0)
                batch = model.on_after_batch_transfer(batch, 0)
                self._both(f"on_{stage}_batch_start", model, batch, i)
                out = getattr(model, f"{stage}_step")(batch, i)
                self._both(f"on_{stage}_batch_end", model, out, batch, i)
                outputs.append(out)
            self._both(f"on_{stage}_epoch_end", model)
            self._both(f"on_{stage}_end", model)
        if stage == "test":
            model.on_test_model_train()
        for name, module in model.named_modules():  # every module's mode as it was before
            module.train(modes[name])
        self._callbacks("teardown", model, stage)
        model.teardown(stage)
        return outputs

    def test(self, model: Any) -> None:
        self._evaluate("test", model)

    def predict(self, model: Any, return_predictions: bool = True) -> Any:
        outputs = self._evaluate("predict", model)
        return outputs if return_predictions is not False else None

    def fit(self, model: Any) -> None:
        raise NotImplementedError("minitrain: fit is not written yet")

    def validate(self, model: Any) -> None:
        raise NotImplementedError("minitrain: validate is not written yet")
'''

# The author's edits to the template's FILL IN places.
FILLED = {
    'raise NotImplementedError("minitrain_lh.adapter: module_base must return the trainer\'s model base class")':
        "from minitrain import MiniModule\n\n        return MiniModule",
    'raise NotImplementedError("minitrain_lh.adapter: callback_base must return the trainer\'s callback base class")':
        "from minitrain import MiniCallback\n\n        return MiniCallback",
    'raise NotImplementedError("minitrain_lh.adapter: run must build the trainer and call its entry point")':
        "from minitrain import MiniTrainer\n\n"
        "        trainer = MiniTrainer(callbacks, **settings)\n"
        "        if fn == \"predict\":\n"
        "            return trainer.predict(model, return_predictions=return_predictions)\n"
        "        return getattr(trainer, fn)(model)",
}

REQUIRED = [c for c in catalogue(["cpu"]) if c.required]
WRITTEN = {c.id for c in REQUIRED if c.scenario.fn in ("test", "predict")}
DECLARED = sorted(c.id for c in REQUIRED if c.id not in WRITTEN)
"""The required cases minitrain cannot run (fit and validate), declared by id."""


def test_init_adapter_writes_the_skeleton_and_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    assert main(["init-adapter", "pkg_lh", "--dir", str(tmp_path)], out=out) == 0
    names = sorted(p.name for p in (tmp_path / "pkg_lh").iterdir())
    assert names == ["__init__.py", "adapter.py", "conftest.py", "deviations.json", "test_conformance.py"]
    assert "next: fill in pkg_lh/adapter.py" in out.getvalue()
    assert json.loads((tmp_path / "pkg_lh" / "deviations.json").read_text())["deviations"] == []
    assert main(["init-adapter", "pkg_lh", "--dir", str(tmp_path)], out=io.StringIO()) == 2
    assert "exists already" in capsys.readouterr().err
    assert main(["init-adapter", "not-a-name", "--dir", str(tmp_path)], out=io.StringIO()) == 2
    assert "must be a Python package name" in capsys.readouterr().err


def test_an_unfilled_template_could_not_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init-adapter", "blank_lh", "--dir", str(tmp_path)], out=io.StringIO()) == 0
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["check", "--adapter", "blank_lh.adapter:make_adapter", "-k", "test-cpu"], out=io.StringIO()) == 3
    assert "module_base must return the trainer's model base class" in capsys.readouterr().err


def test_a_trainer_built_from_the_template_runs_the_suite_from_outside(tmp_path: Path) -> None:
    (tmp_path / "minitrain.py").write_text(MINITRAIN)
    assert main(["init-adapter", "minitrain_lh", "--dir", str(tmp_path)], out=io.StringIO()) == 0
    package = tmp_path / "minitrain_lh"
    adapter = (package / "adapter.py").read_text()
    assert adapter.count("# FILL IN") == 4
    for old, new in FILLED.items():
        assert old in adapter
        adapter = adapter.replace(old, new)
    (package / "adapter.py").write_text(adapter)
    deviations = json.loads((package / "deviations.json").read_text())
    deviations["deviations"] = [{"id": d, "reason": "minitrain implements test and predict only"} for d in DECLARED]
    (package / "deviations.json").write_text(json.dumps(deviations))

    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPHOOKS_")}
    env["PYTHONPATH"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path),
         "-p", "no:cacheprovider", "minitrain_lh", "--loophooks-device=cpu", "--loophooks-report=report.json", "-rxs"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    out = result.stdout
    assert result.returncode == 0, out[:6000] + result.stderr[-2000:]
    assert "adapter minitrain_lh (minitrain_lh.adapter:make_adapter), device cpu, level strict" in out
    assert f"loophooks deviations: {package / 'deviations.json'} ({len(DECLARED)} declared)" in out
    report = Report.loads((tmp_path / "report.json").read_text())
    outcomes = {r.id: r.outcome for r in report.results}
    assert {"test-cpu", "predict-cpu", "predict-no-return-cpu"} <= WRITTEN
    assert {k for k, v in outcomes.items() if v == "passed"} == WRITTEN
    assert {k for k, v in outcomes.items() if v == "deviation"} == set(DECLARED)
    required = {c.id for c in REQUIRED}
    assert {v for k, v in outcomes.items() if k not in required} == {"unsupported"}
    assert re.search(rf"{len(WRITTEN)} passed, \d+ skipped, {len(DECLARED)} xfailed", out), out[-2000:]
    assert "NotImplementedError: minitrain: fit is not written yet" in (tmp_path / "report.json").read_text()
