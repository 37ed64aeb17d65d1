"""``Trainer(profiler=...)``: the same tiny job under Lightning's and the engine's profilers.

Lightning times every hook call, including defaults that do nothing and callback hooks a
callback does not define; the engine does not call those, so the comparison covers the
hooks the job's model, datamodule and callback define (engine/_profilers.py says so; a callback
hook whose body is only ``pass`` is never called by the engine, so it is not timed), with
Lightning's ``[Strategy]<Class>.<step>`` mapped to ``[LightningModule]<Model>.<step>``.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

import loophooks
from loophooks.engine import ConfigurationError
from loophooks.profilers import AdvancedProfiler, PassThroughProfiler, Profiler, PyTorchProfiler, SimpleProfiler

from ._kit import BOTH, api, loader, pl, quiet, trainer

pytestmark = pytest.mark.skipif(pl is None, reason="needs pytorch_lightning")


def _job(kind: str) -> tuple[Any, Any, Any]:
    ns = api(kind)
    import torch

    class Model(ns.LightningModule):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            return torch.nn.functional.mse_loss(self.layer(batch[0]), batch[1])

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            self.layer(batch[0])

        def on_train_epoch_start(self) -> None:
            pass

        def on_validation_epoch_end(self) -> None:
            pass

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    class Data(ns.LightningDataModule):  # type: ignore[misc, name-defined]
        def setup(self, stage: str) -> None:
            pass

        def train_dataloader(self) -> Any:
            return loader(12, 4)

        def val_dataloader(self) -> Any:
            return loader(8, 4)

    class Counter(ns.Callback):  # type: ignore[misc, name-defined]
        # bodies that do something: the engine skips a callback hook whose body is only `pass`
        calls = 0

        def on_train_batch_end(self, *args: Any) -> None:
            self.calls += 1

        def on_validation_start(self, *args: Any) -> None:
            self.calls += 1

        def on_fit_start(self, *args: Any) -> None:
            self.calls += 1

    return Model(), Data(), Counter()


_DEFINED = {
    "LightningModule": {"training_step", "validation_step", "on_train_epoch_start", "on_validation_epoch_end",
                        "configure_optimizers"},
    "LightningDataModule": {"setup", "train_dataloader", "val_dataloader"},
    "Callback": {"on_train_batch_end", "on_validation_start", "on_fit_start"},
}


def _hook_actions(durations: dict[str, list[float]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for action, calls in durations.items():
        if action.startswith("[Strategy]") and action.endswith("_step"):
            action = "[LightningModule]Model." + action.rsplit(".", 1)[1]
        if not action.startswith("["):
            continue
        kind, rest = action[1:].split("]", 1)
        if rest.rsplit(".", 1)[1] in _DEFINED.get(kind, ()):
            out[action] = len(calls)
    return out


@pytest.fixture(scope="module")
def runs() -> dict[str, Any]:
    out = {}
    for kind in BOTH:
        model, dm, cb = _job(kind)
        t = trainer(kind, profiler="simple", max_epochs=2, limit_train_batches=3, callbacks=[cb])
        quiet(t.fit, model, datamodule=dm)
        out[kind] = t
    return out


def test_simple_profiler_records_lightnings_hook_actions_and_counts(runs: dict[str, Any]) -> None:
    expected = _hook_actions(runs["lightning"].profiler.recorded_durations)
    got = _hook_actions(runs["engine"].profiler.recorded_durations)
    assert len(expected) == sum(map(len, _DEFINED.values()))  # every hook the job defines, in Lightning's record
    assert got == expected
    # the engine records nothing under a name Lightning would not use for the same call
    assert set(runs["engine"].profiler.recorded_durations) <= set(runs["lightning"].profiler.recorded_durations) | {
        f"[LightningModule]Model.{s}" for s in ("training_step", "validation_step")
    }


def test_simple_summary_prints_lightnings_columns(capsys: pytest.CaptureFixture[str]) -> None:
    model, dm, cb = _job("engine")
    t = trainer("engine", profiler="simple", max_epochs=1, limit_train_batches=2, limit_val_batches=1)
    t.fit(model, datamodule=dm)
    out = capsys.readouterr().out
    assert "FIT Profiler Report" in out
    for column in ("Action", "Mean duration (s)", "Num calls", "Total time (s)", "Percentage %"):
        assert column in out
    assert "[LightningModule]Model.training_step" in out


def test_profiler_off_wraps_nothing() -> None:
    model, dm, cb = _job("engine")
    t = trainer("engine", max_epochs=1, limit_train_batches=1, limit_val_batches=1, callbacks=[cb])
    t.fit(model, datamodule=dm)
    assert isinstance(t.profiler, PassThroughProfiler)
    d = t._dispatch
    assert d.module_hook.__self__ is d  # sanity
    assert getattr(d._mod["training_step"], "__func__", None) is type(model).training_step
    assert all(type(fn).__name__ == "method" for fn in d.callbacks_with("on_train_batch_end"))


@pytest.mark.parametrize("kind", BOTH)
def test_dirpath_filename_write_stage_named_file(kind: str, tmp_path: Any) -> None:
    model, dm, cb = _job(kind)
    cls = pl.profilers.SimpleProfiler if kind == "lightning" else SimpleProfiler
    t = trainer(kind, profiler=cls(dirpath=tmp_path, filename="perf"), max_epochs=1, limit_train_batches=2,
                limit_val_batches=1)
    quiet(t.fit, model, datamodule=dm)
    path = tmp_path / "fit-perf.txt"
    assert path.exists(), os.listdir(tmp_path)
    assert "training_step" in path.read_text()


def test_advanced_profiler_reports_pstats(tmp_path: Any) -> None:
    model, dm, cb = _job("engine")
    t = trainer("engine", profiler=AdvancedProfiler(dirpath=tmp_path, filename="adv"), max_epochs=1,
                limit_train_batches=2, limit_val_batches=1)
    t.fit(model, datamodule=dm)
    text = (tmp_path / "fit-adv.txt").read_text()
    assert "Profile stats for: [LightningModule]Model.training_step" in text
    assert "function calls" in text  # pstats' header line


def test_pytorch_profiler_reports_key_averages(tmp_path: Any) -> None:
    model, dm, cb = _job("engine")
    t = trainer("engine", profiler=PyTorchProfiler(dirpath=tmp_path, filename="pt", row_limit=200), max_epochs=1,
                limit_train_batches=2, limit_val_batches=1)
    t.fit(model, datamodule=dm)
    text = (tmp_path / "fit-pt.txt").read_text()
    assert "[LightningModule]Model.training_step" in text
    assert "CPU total" in text


def test_names_resolve_and_bad_values_are_refused() -> None:
    assert isinstance(loophooks.Trainer(profiler="advanced").profiler, AdvancedProfiler)
    assert isinstance(loophooks.Trainer(profiler="pytorch").profiler, PyTorchProfiler)
    assert issubclass(SimpleProfiler, Profiler)
    with pytest.raises(ConfigurationError, match="profiler"):
        loophooks.Trainer(profiler="fast")
    with pytest.raises(ConfigurationError, match="extended"):
        SimpleProfiler(extended=False)
    with pytest.raises(ConfigurationError, match="line_count_restriction"):
        AdvancedProfiler(line_count_restriction=0)
