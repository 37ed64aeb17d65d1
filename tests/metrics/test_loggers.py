"""Loggers: Lightning's files and defaults, durable rewrites, Lightning's own logger objects, clear refusals."""

from __future__ import annotations

import os
import warnings
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from loophooks.engine import LoopModule, Trainer
from loophooks.engine._errors import ConfigurationError
from loophooks.loggers import CSVLogger, Logger, TensorBoardLogger


def _data() -> DataLoader[Any]:
    return DataLoader(TensorDataset(torch.arange(6.0).view(-1, 1)), batch_size=2)


def _module(base: Any, **hparams: Any) -> Any:
    class Small(base):  # type: ignore[misc,valid-type]
        def __init__(self, lr: float = 0.01, name: str = "small", layers: tuple[int, ...] = (1, 2)) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.layer = torch.nn.Linear(1, 1)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            loss = self.layer(batch[0]).sum()
            self.log("loss", loss, on_step=True, on_epoch=True)
            return loss

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    return Small(**hparams)


def _engine_fit(tmp: str, **kwargs: Any) -> Trainer:
    options: dict[str, Any] = dict(max_epochs=1, enable_checkpointing=False, enable_progress_bar=False, default_root_dir=tmp)
    options.update(kwargs)
    trainer = Trainer(accelerator="cpu", **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(_module(LoopModule, lr=0.5, name="x y"), _data())
    return trainer


@pytest.mark.lightning
def test_hparams_yaml_is_lightnings(tmp_path: Any) -> None:
    pl = pytest.importorskip("pytorch_lightning")
    from pytorch_lightning.loggers import CSVLogger as LightningCSV

    lightning = pl.Trainer(accelerator="cpu", devices=1, max_epochs=1, logger=LightningCSV(str(tmp_path / "l")),
                           enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lightning.fit(_module(pl.LightningModule, lr=0.5, name="x y"), _data())
    engine = _engine_fit(str(tmp_path / "e"), logger=CSVLogger(str(tmp_path / "e")))
    want = open(os.path.join(lightning.logger.log_dir, "hparams.yaml")).read()
    got = open(os.path.join(engine.logger.log_dir, "hparams.yaml")).read()
    assert got == want
    assert "lr: 0.5" in got


def test_yaml_fallback_writes_what_pyyaml_reads(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    yaml = pytest.importorskip("yaml")
    from loophooks.engine import _loggers

    params = {"lr": 1e-05, "name": "x y", "flag": True, "none": None, "layers": [1, 2], "nested": {"a": 1, "b": "on"}, "n": 3}
    monkeypatch.setitem(__import__("sys").modules, "yaml", None)  # the emitter without PyYAML
    path = str(tmp_path / "h.yaml")
    _loggers.save_hparams_to_yaml(path, params)
    monkeypatch.undo()
    assert yaml.safe_load(open(path).read()) == params


def test_default_logger_is_tensorboard_when_importable_else_csv(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from loophooks.engine import _tensorboard_logger

    monkeypatch.setattr(_tensorboard_logger, "tensorboard_available", lambda: False)
    csv_trainer = Trainer(accelerator="cpu", default_root_dir=str(tmp_path))
    assert isinstance(csv_trainer.logger, CSVLogger)
    assert csv_trainer.log_dir == os.path.join(str(tmp_path), "lightning_logs", "version_0")
    monkeypatch.setattr(_tensorboard_logger, "tensorboard_available", lambda: True)
    assert isinstance(Trainer(accelerator="cpu", default_root_dir=str(tmp_path)).logger, TensorBoardLogger)
    assert Trainer(accelerator="cpu", logger=False).loggers == []
    assert Trainer(accelerator="cpu", logger=False).log_dir == Trainer(accelerator="cpu", logger=False).default_root_dir


def test_versions_count_up_and_metrics_csv_has_lightnings_columns(tmp_path: Any) -> None:
    first = _engine_fit(str(tmp_path), logger=CSVLogger(str(tmp_path)))
    second = _engine_fit(str(tmp_path), logger=CSVLogger(str(tmp_path)))
    assert first.log_dir.endswith(os.path.join("lightning_logs", "version_0"))
    assert second.log_dir.endswith(os.path.join("lightning_logs", "version_1"))
    header = open(os.path.join(second.log_dir, "metrics.csv")).readline().strip().split(",")
    assert header == ["epoch", "loss_epoch", "step"]  # 3 steps < log_every_n_steps=50: only the epoch row


def test_log_every_n_steps_thins_the_step_rows(tmp_path: Any) -> None:
    trainer = _engine_fit(str(tmp_path), logger=CSVLogger(str(tmp_path)), log_every_n_steps=2, max_epochs=2)
    rows = open(os.path.join(trainer.log_dir, "metrics.csv")).read().strip().splitlines()[1:]
    # 3 batches per epoch, global steps 0..5: step rows where (step + 1) % 2 == 0, plus one epoch row per epoch
    steps = [r.split(",")[-1] for r in rows]
    assert steps == ["1", "2", "3", "5", "5"]


@pytest.mark.lightning
def test_a_lightning_logger_object_is_used(tmp_path: Any) -> None:
    pytest.importorskip("pytorch_lightning")
    from pytorch_lightning.loggers import CSVLogger as LightningCSV

    trainer = _engine_fit(str(tmp_path), logger=LightningCSV(str(tmp_path)))
    assert os.path.exists(os.path.join(trainer.log_dir, "metrics.csv"))
    assert os.path.exists(os.path.join(trainer.log_dir, "hparams.yaml"))


def test_an_object_that_is_not_a_logger_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"Trainer\(logger=...\): object is not a logger: it lacks log_metrics"):
        Trainer(accelerator="cpu", logger=object())
    with pytest.raises(ConfigurationError, match="log_every_n_steps"):
        Trainer(accelerator="cpu", log_every_n_steps=-1)


def test_a_custom_logger_sees_hparams_metrics_and_finalize(tmp_path: Any) -> None:
    class Recording(Logger):
        def __init__(self) -> None:
            self.calls: list[tuple[str, Any]] = []

        def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
            self.calls.append(("metrics", (dict(metrics), step)))

        def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
            self.calls.append(("hparams", dict(params)))

        def finalize(self, status: str) -> None:
            self.calls.append(("finalize", status))

    logger = Recording()
    trainer = _engine_fit(str(tmp_path), logger=logger, log_every_n_steps=1)
    assert logger.calls[0] == ("hparams", {"lr": 0.5, "name": "x y", "layers": (1, 2)})
    assert logger.calls[-1] == ("finalize", "success")
    steps = [c[1] for c in logger.calls if c[0] == "metrics"]
    assert [s for _, s in steps] == [0, 1, 2, 2]
    assert steps[-1][0] == {"loss_epoch": pytest.approx(float(trainer.callback_metrics["loss_epoch"])), "epoch": 0}
    assert trainer.lightning_module.logger is logger and trainer.lightning_module.loggers == [logger]


def test_a_new_column_rewrites_metrics_csv_durably(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    logger = CSVLogger(str(tmp_path))
    logger.log_metrics({"a": 1.0}, step=0)
    logger.save()
    path = os.path.join(logger.log_dir, "metrics.csv")
    before = open(path).read()
    logger.log_metrics({"b": 2.0}, step=1)

    def fail(*args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        logger.save()
    assert open(path).read() == before  # the old file survives a failed rewrite
    assert [n for n in os.listdir(logger.log_dir) if n.startswith(".tmp-")] == []
    monkeypatch.undo()
    logger.save()
    assert open(path).read().splitlines() == ["a,b,step", "1.0,,0", ",2.0,1"]


def test_tensorboard_logger_writes_events(tmp_path: Any) -> None:
    pytest.importorskip("tensorboard")
    logger = TensorBoardLogger(str(tmp_path))
    trainer = _engine_fit(str(tmp_path), logger=logger)
    files = os.listdir(trainer.log_dir)
    assert any(f.startswith("events.out.tfevents") for f in files)
    assert "hparams.yaml" in files


def test_tensorboard_missing_names_the_extra(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from loophooks.engine import _tensorboard_logger

    monkeypatch.setattr(_tensorboard_logger, "tensorboard_available", lambda: False)
    with pytest.raises(ModuleNotFoundError, match=r"loophooks\[tensorboard\]"):
        TensorBoardLogger(str(tmp_path))


def test_a_failed_run_finalizes_loggers_with_failed(tmp_path: Any) -> None:
    class Recording(Logger):
        def __init__(self) -> None:
            self.statuses: list[str] = []

        def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
            pass

        def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
            pass

        def finalize(self, status: str) -> None:
            self.statuses.append(status)

    class Fails(LoopModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(1, 1)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            raise RuntimeError("boom")

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    logger = Recording()
    trainer = Trainer(accelerator="cpu", logger=logger, enable_progress_bar=False, enable_checkpointing=False)
    with pytest.raises(RuntimeError, match="boom"):
        trainer.fit(Fails(), _data())
    assert logger.statuses == ["failed"]


def test_a_resumed_fit_logs_at_the_steps_it_continues_from(tmp_path: Any) -> None:
    from loophooks.engine import ModelCheckpoint

    def fit(epochs: int, logger: Any, ckpt: str | None) -> Trainer:
        trainer = Trainer(accelerator="cpu", max_epochs=epochs, logger=logger, log_every_n_steps=1,
                          enable_progress_bar=False, default_root_dir=str(tmp_path),
                          callbacks=[ModelCheckpoint(dirpath=str(tmp_path / "ck"), save_last=True)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer.fit(_module(LoopModule), _data(), ckpt_path=ckpt)
        return trainer

    fit(1, CSVLogger(str(tmp_path), version="first"), None)
    second = fit(2, CSVLogger(str(tmp_path), version="second"), str(tmp_path / "ck" / "last.ckpt"))
    rows = open(os.path.join(second.log_dir, "metrics.csv")).read().strip().splitlines()[1:]
    # 3 batches per epoch: the resumed epoch 1 logs steps 3, 4, 5 and its epoch row at step 5 (not 0, 1, 2)
    assert [r.split(",")[-1] for r in rows] == ["3", "4", "5", "5"]
