"""``Trainer.estimated_stepping_batches`` before any run and inside fit, compared with Lightning's answers."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from loophooks.engine import LoopModule, Trainer

pl = pytest.importorskip("pytorch_lightning")

OPTIONS: list[dict[str, Any]] = [
    {"max_epochs": 3},
    {"max_steps": 7},
    {"max_epochs": -1, "max_steps": 5},
    {"max_epochs": 2, "max_steps": 3, "accumulate_grad_batches": 2},
]


def _lightning_trainer(**options: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pl.Trainer(
            logger=False, enable_progress_bar=False, enable_checkpointing=False, enable_model_summary=False, **options
        )


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_before_a_run_it_answers_as_lightning(options: dict[str, Any]) -> None:
    ours = Trainer(enable_progress_bar=False, enable_checkpointing=False, **options)
    assert ours.estimated_stepping_batches == _lightning_trainer(**options).estimated_stepping_batches


def _loader() -> DataLoader[Any]:
    return DataLoader(TensorDataset(torch.randn(10, 2)), batch_size=2)


class _Ours(LoopModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)
        self.seen: Any = None

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self.layer(batch[0]).sum()

    def configure_optimizers(self) -> Any:
        self.seen = self.trainer.estimated_stepping_batches
        return torch.optim.SGD(self.parameters(), lr=0.1)


class _Theirs(pl.LightningModule):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)
        self.seen: Any = None

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self.layer(batch[0]).sum()

    def configure_optimizers(self) -> Any:
        self.seen = self.trainer.estimated_stepping_batches
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_inside_configure_optimizers_it_answers_as_lightning() -> None:
    options: dict[str, Any] = {"max_epochs": 2, "accumulate_grad_batches": 2, "limit_train_batches": 3}
    ours, theirs = _Ours(), _Theirs()
    Trainer(enable_progress_bar=False, enable_checkpointing=False, **options).fit(ours, _loader())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _lightning_trainer(**options).fit(theirs, _loader())
    assert ours.seen == theirs.seen == 4  # ceil(3 / 2) * 2
