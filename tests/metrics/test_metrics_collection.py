"""``self.log_dict`` with a torchmetrics ``MetricCollection`` and a plain dict: the same keys and values as Lightning."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

pytest.importorskip("pytorch_lightning")
torchmetrics = pytest.importorskip("torchmetrics")

pytestmark = pytest.mark.lightning


def _run(kind: str) -> tuple[dict[str, float], list[dict[str, float]]]:
    if kind == "lightning":
        import pytorch_lightning as pl

        base: Any = pl.LightningModule
    else:
        from loophooks.engine import LoopModule

        base = LoopModule

    class Collected(base):  # type: ignore[misc,valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(1, 1)
            self.metrics = torchmetrics.MetricCollection(
                {"total": torchmetrics.SumMetric(), "avg": torchmetrics.MeanMetric()}, prefix="val_"
            )

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            self.log_dict({"a": float(batch_idx), "b": batch[0].mean()}, on_step=True, on_epoch=True)
            return self.layer(batch[0]).sum()

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            self.metrics(batch[0].mean())
            self.log_dict(self.metrics)

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    data = DataLoader(TensorDataset(torch.arange(1.0, 8.0).view(-1, 1)), batch_size=3)
    kwargs: dict[str, Any] = dict(max_epochs=2, logger=False, enable_progress_bar=False, enable_checkpointing=False,
                                  num_sanity_val_steps=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "lightning":
            import pytorch_lightning as pl

            trainer: Any = pl.Trainer(accelerator="cpu", devices=1, enable_model_summary=False, **kwargs)
        else:
            from loophooks.engine import Trainer

            trainer = Trainer(accelerator="cpu", **kwargs)
        model = Collected()
        trainer.fit(model, data, data)
        fitted = {k: float(v) for k, v in trainer.callback_metrics.items()}
        validated = trainer.validate(model, data, verbose=False)
    return fitted, validated


def test_log_dict_and_metric_collection_match_lightning() -> None:
    want_fit, want_validate = _run("lightning")
    got_fit, got_validate = _run("engine")
    assert got_fit == pytest.approx(want_fit)
    assert got_validate == [pytest.approx(d) for d in want_validate]
    assert {"val_total", "val_avg", "a_epoch", "b_step"} <= set(got_fit)
