"""BasePredictionWriter and LearningRateMonitor against the real Lightning 2.6."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

pytestmark = pytest.mark.lightning


# --- BasePredictionWriter ------------------------------------------------------------------------------


def _writer_class(base: type) -> type:
    class Writer(base):  # type: ignore[misc, valid-type]
        def __init__(self, interval: str) -> None:
            super().__init__(interval)
            self.batches: list[tuple[Any, ...]] = []
            self.epochs: list[tuple[Any, ...]] = []

        def write_on_batch_end(self, trainer: Any, pl_module: Any, prediction: Any, batch_indices: Any, batch: Any,
                               batch_idx: int, dataloader_idx: int) -> None:
            self.batches.append((prediction.tolist(), list(batch_indices or []), batch_idx, dataloader_idx))

        def write_on_epoch_end(self, trainer: Any, pl_module: Any, predictions: Any, batch_indices: Any) -> None:
            as_lists = [[p.tolist() for p in loader] for loader in predictions] if isinstance(predictions[0], list) \
                else [p.tolist() for p in predictions]
            self.epochs.append((as_lists, batch_indices))

    return Writer


def _predict(framework: str, interval: str, loaders: int, return_predictions: bool) -> Any:
    if framework == "lightning":
        import pytorch_lightning as pl
        import pytorch_lightning.callbacks as module

        base: type = pl.LightningModule
        trainer = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False,
                             enable_checkpointing=False, accelerator="cpu", devices=1)
    else:
        import loophooks.callbacks as module  # type: ignore[no-redef]
        from loophooks.engine import LoopModule, Trainer

        base = LoopModule
        trainer = Trainer(enable_progress_bar=False, enable_checkpointing=False, enable_model_summary=False)

    class Net(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(1, 1)

        def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
            return batch[0] * 2 + dataloader_idx

    def loader(n: int) -> DataLoader[Any]:
        g = torch.Generator().manual_seed(5)
        return DataLoader(TensorDataset(torch.arange(float(n)).unsqueeze(1)), batch_size=3, shuffle=True, generator=g)

    writer = _writer_class(module.BasePredictionWriter)(interval)
    trainer.callbacks.append(writer) if framework == "lightning" else trainer._trainer_callbacks.append(writer)
    data = [loader(7), loader(5)][:loaders]
    returned = trainer.predict(Net(), dataloaders=data if loaders > 1 else data[0],
                               return_predictions=return_predictions)
    return writer, returned


@pytest.mark.parametrize("interval", ["batch", "epoch", "batch_and_epoch"])
@pytest.mark.parametrize("loaders", [1, 2])
@pytest.mark.parametrize("return_predictions", [True, False])
def test_prediction_writer_as_lightning(interval: str, loaders: int, return_predictions: bool) -> None:
    pytest.importorskip("pytorch_lightning")
    expected, expected_returned = _predict("lightning", interval, loaders, return_predictions)
    got, returned = _predict("engine", interval, loaders, return_predictions)
    assert got.batches == expected.batches
    assert got.epochs == expected.epochs
    assert (returned is None) == (expected_returned is None)
    if interval != "epoch":
        assert len(got.batches) == (3 if loaders == 1 else 5)
        assert all(indices for _, indices, _, _ in got.batches)  # the shuffled sample indices of each batch


def test_prediction_writer_bad_interval_as_lightning() -> None:
    pytest.importorskip("pytorch_lightning")
    import pytorch_lightning.callbacks as plc

    import loophooks.callbacks as lhc
    from loophooks.engine import ConfigurationError

    with pytest.raises(Exception, match="write_interval"):
        plc.BasePredictionWriter("step")
    with pytest.raises(ConfigurationError, match="write_interval"):
        lhc.BasePredictionWriter("step")  # type: ignore[arg-type]


# --- LearningRateMonitor ---------------------------------------------------------------------------------


class _Records:
    def __init__(self) -> None:
        self.metrics: list[tuple[int, dict[str, float]]] = []

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self.metrics.append((step, {k: round(float(v), 8) for k, v in metrics.items()}))


def _capture_logger(base: type, records: _Records) -> Any:
    """A logger of either framework (``base`` is its Logger class) that keeps what it is given."""

    class Capture(base):  # type: ignore[misc, valid-type]
        @property
        def name(self) -> str:
            return "capture"

        @property
        def version(self) -> int:
            return 0

        def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
            records.log_metrics(dict(metrics), step or 0)

        def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
            pass

    return Capture()


def _sgd_groups(module: Any) -> Any:
    """Two parameter groups (names /pg1, /pg2), momentum, weight decay, a scheduler stepping each step."""
    opt = torch.optim.SGD([{"params": [module.layer.weight]}, {"params": [module.layer.bias], "lr": 0.5}],
                          lr=0.1, momentum=0.9, weight_decay=0.01)
    return {"optimizer": opt, "lr_scheduler": {"scheduler": torch.optim.lr_scheduler.StepLR(opt, 1, 0.5),
                                               "interval": "step"}}


def _adam_named(module: Any) -> Any:
    """A named group and a named scheduler stepping each epoch; Adam's betas stand for momentum."""
    opt = torch.optim.Adam([{"params": list(module.parameters()), "name": "all"}], lr=0.01)
    return [opt], [{"scheduler": torch.optim.lr_scheduler.StepLR(opt, 1, 0.9), "name": "custom"}]


def _plain(module: Any) -> Any:
    return torch.optim.SGD(module.parameters(), lr=0.05)


@pytest.mark.parametrize("logging_interval", [None, "step", "epoch"])
@pytest.mark.parametrize("optimizers", [_sgd_groups, _adam_named, _plain], ids=["sgd-groups", "adam-named", "plain"])
def test_learning_rate_monitor_logs_as_lightning(one: Any, logging_interval: str | None, optimizers: Any) -> None:
    records = {"lightning": _Records(), "engine": _Records()}

    def make(module: Any, folder: Path) -> list[Any]:
        return [module.LearningRateMonitor(logging_interval=logging_interval, log_momentum=True,
                                           log_weight_decay=True)]

    from pytorch_lightning.loggers import Logger as LightningLogger

    from loophooks.loggers import Logger

    options: dict[str, Any] = {"max_epochs": 2, "limit_val_batches": 0, "optimizers": optimizers,
                               "log_every_n_steps": 1}
    lightning = one("lightning", make, logger=_capture_logger(LightningLogger, records["lightning"]), **options)
    assert lightning.error is None, lightning.error
    engine = one("engine", make, logger=_capture_logger(Logger, records["engine"]), **options)
    assert engine.error is None, engine.error

    def monitored(run: Any, kept: _Records) -> list[tuple[int, dict[str, float]]]:
        # Lightning's logger also receives the job's own metrics: keep the monitor's keys
        names = set(run.callbacks[0].lrs)
        keys = names | {f"{n}-momentum" for n in names} | {f"{n}-weight_decay" for n in names}
        out = [(step, {k: v for k, v in m.items() if k in keys}) for step, m in kept.metrics]
        return [(step, m) for step, m in out if m]

    expected = monitored(lightning, records["lightning"])
    assert expected and monitored(engine, records["engine"]) == expected
    assert engine.callbacks[0].lrs == lightning.callbacks[0].lrs


def test_learning_rate_monitor_without_a_logger_is_refused_as_lightning(both: Any) -> None:
    lightning, engine = both(lambda module, folder: [module.LearningRateMonitor()], max_epochs=1)
    assert type(lightning.error).__name__ == "MisconfigurationException" and "logger" in str(lightning.error)
    assert engine.error is not None and "needs a logger" in str(engine.error)
