"""``Trainer(profiler=...)``: the same tiny jobs under Lightning's and the engine's profilers.

Lightning's ``SimpleProfiler`` records every hook call (defaults that do nothing and
callback hooks a callback does not define included), the strategy's hooks and the loops'
own actions (``run_training_epoch``, ``run_training_batch``, the loaders' ``next``,
``[Strategy]...batch_to_device``, ``save_checkpoint``, ...). The engine's must record the
same action names the same number of times on the same job: fit (a datamodule, two
validation loaders, checkpointing, accumulation, clipping, a scheduler), fit under manual
optimization from an unsized loader, validate, test and predict.
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

STEP = "[Strategy]SingleDeviceStrategy.training_step"  # Lightning's name for the step: the strategy runs it


def _job(kind: str, manual: bool = False) -> tuple[Any, Any, Any]:
    ns = api(kind)
    import torch

    class Model(ns.LightningModule):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)
            self.automatic_optimization = not manual

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            loss = torch.nn.functional.mse_loss(self.layer(batch[0]), batch[1])
            if manual:
                optimizer = self.optimizers()
                optimizer.zero_grad()
                self.manual_backward(loss)
                optimizer.step()
            return loss

        def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
            self.log("val", self.layer(batch[0]).sum())

        def test_step(self, batch: Any, batch_idx: int) -> None:
            self.log("test", self.layer(batch[0]).sum())

        def predict_step(self, batch: Any, batch_idx: int) -> Any:
            return self.layer(batch[0])

        def on_train_epoch_start(self) -> None:
            pass

        def configure_optimizers(self) -> Any:
            optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
            return [optimizer], [torch.optim.lr_scheduler.StepLR(optimizer, 1)]

    class Stream(torch.utils.data.IterableDataset):  # type: ignore[type-arg]
        def __iter__(self) -> Any:
            return iter(loader(10, 1).dataset)

    class Data(ns.LightningDataModule):  # type: ignore[misc, name-defined]
        def setup(self, stage: str) -> None:
            pass

        def train_dataloader(self) -> Any:
            # manual: an unsized loader too, whose batches both trainers fetch one ahead
            return torch.utils.data.DataLoader(Stream(), batch_size=4) if manual else loader(12, 4)

        def val_dataloader(self) -> Any:
            return [loader(8, 4), loader(4, 4)]

        def test_dataloader(self) -> Any:
            return loader(8, 4)

        def predict_dataloader(self) -> Any:
            return loader(8, 4)

    class Counter(ns.Callback):  # type: ignore[misc, name-defined]
        calls = 0

        def on_train_batch_end(self, *args: Any) -> None:
            self.calls += 1

        def on_validation_start(self, *args: Any) -> None:
            pass  # a body that does nothing: Lightning still calls (and times) it

    return Model(), Data(), Counter()


JOBS: dict[str, tuple[str, dict[str, Any]]] = {
    "fit": ("fit", {"enable_checkpointing": True, "accumulate_grad_batches": 2, "gradient_clip_val": 1.0}),
    "fit_manual": ("fit", {"limit_val_batches": 1, "limit_train_batches": 1.0}),  # the whole unsized loader
    "validate": ("validate", {}),
    "test": ("test", {}),
    "predict": ("predict", {}),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Any]:
    out = {}
    for job, (entry, options) in JOBS.items():
        for kind in BOTH:
            model, dm, cb = _job(kind, manual=job == "fit_manual")
            root = tmp_path_factory.mktemp(f"{job}-{kind}")
            options = {"limit_train_batches": 3, **options}
            t = trainer(kind, profiler="simple", max_epochs=2, callbacks=[cb], default_root_dir=root, **options)
            quiet(getattr(t, entry), model, datamodule=dm)
            out[job, kind] = t
    return out


@pytest.mark.parametrize("job", list(JOBS))
def test_simple_profiler_records_lightnings_actions_and_counts(runs: dict[tuple[str, str], Any], job: str) -> None:
    expected = {k: len(v) for k, v in runs[job, "lightning"].profiler.recorded_durations.items()}
    got = {k: len(v) for k, v in runs[job, "engine"].profiler.recorded_durations.items()}
    assert expected  # the reference recorded something: a run that records nothing cannot pass
    missing = {k: n for k, n in expected.items() if got.get(k) != n}
    extra = {k: n for k, n in got.items() if k not in expected}
    assert not missing and not extra, f"Lightning's counts not matched: {missing}; not Lightning's: {extra}"


def test_simple_summary_prints_lightnings_columns(capsys: pytest.CaptureFixture[str]) -> None:
    model, dm, cb = _job("engine")
    t = trainer("engine", profiler="simple", max_epochs=1, limit_train_batches=2, limit_val_batches=1)
    t.fit(model, datamodule=dm)
    out = capsys.readouterr().out
    assert "FIT Profiler Report" in out
    for column in ("Action", "Mean duration (s)", "Num calls", "Total time (s)", "Percentage %"):
        assert column in out
    assert STEP in out


def test_profiler_off_wraps_nothing() -> None:
    model, dm, cb = _job("engine")
    t = trainer("engine", max_epochs=1, limit_train_batches=1, limit_val_batches=1, callbacks=[cb])
    t.fit(model, datamodule=dm)
    assert isinstance(t.profiler, PassThroughProfiler)
    d = t._dispatch
    assert d.module_hook.__self__ is d  # sanity
    assert getattr(d._mod["training_step"], "__func__", None) is type(model).training_step
    assert all(type(fn).__name__ == "method" for fn in d.callbacks_with("on_train_batch_end"))
    assert d.callbacks_with("on_validation_start") == ()  # a `pass` body: not called when nothing is timed
    # the loops, the data connector, the strategy and the Trainer keep their own methods
    fit = t._fit_loop
    for obj, attr in ((fit, "batches"), (fit.val_loop, "batches"), (fit.epoch_loop, "run"),
                      (fit.epoch_loop, "_automatic"), (t.strategy, "backward"), (t, "save_checkpoint")):  # fmt: skip
        assert attr not in vars(obj), attr
    assert t._ctx.data.transfer.__func__ is type(t._ctx.data).transfer_batch


def test_a_profiler_taken_away_leaves_nothing_behind() -> None:
    model, dm, cb = _job("engine")
    t = trainer("engine", profiler="simple", max_epochs=1, limit_train_batches=1, limit_val_batches=1)
    t.fit(model, datamodule=dm)
    assert "run_training_epoch" in t.profiler.recorded_durations
    t.profiler = PassThroughProfiler()
    t.fit(model, datamodule=dm)
    assert "run" not in vars(t._fit_loop.epoch_loop) and "save_checkpoint" not in vars(t)


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
    assert f"Profile stats for: {STEP}" in text
    assert "function calls" in text  # pstats' header line


def test_pytorch_profiler_reports_key_averages(tmp_path: Any) -> None:
    model, dm, cb = _job("engine")
    t = trainer("engine", profiler=PyTorchProfiler(dirpath=tmp_path, filename="pt", row_limit=200), max_epochs=1,
                limit_train_batches=2, limit_val_batches=1)
    t.fit(model, datamodule=dm)
    text = (tmp_path / "fit-pt.txt").read_text()
    assert STEP in text
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
