"""The same logging module run through Lightning and through the engine, with what callbacks saw recorded.

``build(kind, plan)`` makes the module class for one trainer from a *plan*: which
keys each hook logs, with which options and values. Values come from the batch
(its mean, its size) or the batch index, so Lightning's numbers are the reference
and arithmetic explains them. ``run(kind, plan, tmp)`` fits, validates and tests
with a CSV logger and returns every snapshot of the three metric dicts taken by a
recording callback, the ``validate``/``test`` return values and the CSV rows.
"""

from __future__ import annotations

import csv
import os
import warnings
from typing import Any, Callable

import torch
from torch.utils.data import DataLoader, TensorDataset

Plan = dict[str, list[tuple[str, str, dict[str, Any]]]]  # hook -> [(key, value source, options)]

SNAPSHOT_HOOKS = (
    "on_train_batch_end",
    "on_train_epoch_end",
    "on_validation_epoch_end",
    "on_validation_end",
    "on_test_epoch_end",
    "on_test_end",
    "on_fit_end",
)


def _value(source: str, batch: Any, batch_idx: int, module: Any) -> Any:
    if source == "batch_mean":
        return batch[0].mean()
    if source == "batch_idx":
        return float(batch_idx)
    if source == "batch_idx_int":
        return torch.tensor(batch_idx)
    if source == "epoch":
        return float(module.current_epoch)
    if source.startswith("metric:"):
        metric = getattr(module, source.split(":", 1)[1])
        metric(batch[0].mean() if batch is not None else torch.tensor(1.0))
        return metric
    if source.startswith("const:"):
        return float(source.split(":", 1)[1])
    raise ValueError(source)


def _log_all(module: Any, hook: str, batch: Any = None, batch_idx: int = 0) -> None:
    for key, source, options in module.plan.get(hook, ()):
        module.log(key, _value(source, batch, batch_idx, module), **options)


def train_data() -> DataLoader[Any]:
    x = torch.arange(1.0, 8.0).view(-1, 1)  # 7 samples, batches of 3: 3, 3, 1 (a short last batch)
    return DataLoader(TensorDataset(x), batch_size=3)


def eval_data(count: int) -> list[DataLoader[Any]]:
    loaders = [DataLoader(TensorDataset(torch.arange(1.0, 6.0).view(-1, 1) * (i + 1)), batch_size=2) for i in range(count)]
    return loaders


def build(kind: str, plan: Plan, eval_loaders: int, metrics: tuple[str, ...] = ()) -> Any:
    """The module class for ``kind`` (``"lightning"`` or ``"engine"``) logging as ``plan`` says."""
    if kind == "lightning":
        import pytorch_lightning as pl

        base: Any = pl.LightningModule
    else:
        from loophooks.engine import LoopModule

        base = LoopModule

    multi = eval_loaders > 1

    class Logging(base):  # type: ignore[misc,valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(1, 1)
            self.plan = plan
            for name in metrics:
                import torchmetrics

                setattr(self, name, torchmetrics.MeanMetric() if "mean" in name else torchmetrics.SumMetric())

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            _log_all(self, "training_step", batch, batch_idx)
            return self.layer(batch[0]).sum()

        def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
            _log_all(self, "validation_step", batch, batch_idx)

        def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
            _log_all(self, "test_step", batch, batch_idx)

        def on_train_epoch_end(self) -> None:
            _log_all(self, "on_train_epoch_end")

        def on_validation_epoch_end(self) -> None:
            _log_all(self, "on_validation_epoch_end")

        def on_test_epoch_end(self) -> None:
            _log_all(self, "on_test_epoch_end")

        def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
            _log_all(self, "on_train_batch_end", batch, batch_idx)

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    if not multi:  # one loader: step methods without dataloader_idx
        Logging.validation_step = lambda self, batch, batch_idx: _log_all(self, "validation_step", batch, batch_idx)  # type: ignore[method-assign]
        Logging.test_step = lambda self, batch, batch_idx: _log_all(self, "test_step", batch, batch_idx)  # type: ignore[method-assign]
    return Logging


def _floats(d: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in d.items()}


def recorder(kind: str, seen: list[tuple[str, Any, dict[str, float], dict[str, float], dict[str, float]]]) -> Any:
    if kind == "lightning":
        import pytorch_lightning as pl

        base: Any = pl.Callback
    else:
        from loophooks.engine import Callback

        base = Callback

    def snap(name: str) -> Callable[..., None]:
        def hook(self: Any, trainer: Any, *args: Any) -> None:
            where = (trainer.current_epoch, args[-1] if name == "on_train_batch_end" else None)
            seen.append(
                (name, where, _floats(trainer.callback_metrics), _floats(trainer.logged_metrics), _floats(trainer.progress_bar_metrics))
            )

        return hook

    return type("Recorder", (base,), {h: snap(h) for h in SNAPSHOT_HOOKS})()


def read_csv(log_dir: str) -> tuple[list[str], list[dict[str, str]]]:
    path = os.path.join(log_dir, "metrics.csv")
    if not os.path.exists(path):
        return [], []
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def run(
    kind: str,
    plan: Plan,
    tmp: str,
    *,
    eval_loaders: int = 2,
    metrics: tuple[str, ...] = (),
    trainer_kwargs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fit (2 epochs), validate and test ``plan``'s module; what callbacks saw, the returns, the CSV."""
    seen: list[Any] = []
    options = dict(
        max_epochs=2,
        enable_checkpointing=False,
        enable_progress_bar=False,
        num_sanity_val_steps=1,
        log_every_n_steps=1,
        callbacks=[recorder(kind, seen)],
        default_root_dir=tmp,
    )
    options.update(trainer_kwargs or {})
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "lightning":
            import pytorch_lightning as pl
            from pytorch_lightning.loggers import CSVLogger

            trainer: Any = pl.Trainer(
                accelerator="cpu", devices=1, enable_model_summary=False, logger=CSVLogger(tmp), **options
            )
        else:
            from loophooks.engine import Trainer
            from loophooks.loggers import CSVLogger as EngineCSV

            trainer = Trainer(accelerator="cpu", logger=EngineCSV(tmp), **options)
        model = build(kind, plan, eval_loaders, metrics)()
        trainer.fit(model, train_data(), eval_data(eval_loaders))
        after_fit = _floats(trainer.callback_metrics)
        validated = trainer.validate(model, eval_data(eval_loaders), verbose=False)
        tested = trainer.test(model, eval_data(eval_loaders), verbose=False)
    header, rows = read_csv(trainer.logger.log_dir)
    return {
        "seen": seen,
        "after_fit": after_fit,
        "validate": validated,
        "test": tested,
        "csv_header": header,
        "csv_rows": rows,
        "log_dir_tail": os.path.relpath(trainer.log_dir, tmp),
    }
