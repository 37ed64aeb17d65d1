"""A plain nn.Module, no base class from loophooks: the Trainer takes it as it is."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, StepLR
from torch.utils.data import DataLoader, TensorDataset
from typing_extensions import assert_type

from loophooks import Trainer


class Plain(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 1)

    def training_step(self, batch: list[Tensor], batch_idx: int) -> Tensor:
        return self.layer(batch[0]).sum()  # type: ignore[no-any-return]

    # No dataloader_idx: the loop passes it only when there are several test loaders.
    def test_step(self, batch: list[Tensor], batch_idx: int) -> dict[str, Tensor]:
        return {"out": self.layer(batch[0]).sum()}

    def configure_optimizers(self) -> tuple[list[Optimizer], list[LRScheduler]]:
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        return [optimizer], [StepLR(optimizer, step_size=1)]


def run() -> None:
    loader = DataLoader(TensorDataset(torch.randn(4, 2)), batch_size=2)
    model = Plain()
    trainer = Trainer(max_epochs=2, limit_train_batches=1, enable_checkpointing=False)
    trainer.fit(model, train_dataloaders=loader)
    assert_type(trainer.test(model, dataloaders=loader), list[dict[str, float]])
    predictions = trainer.predict(model, dataloaders=loader)
    assert_type(predictions, list[Any])
    assert_type(predictions[0], Any)
    keep: bool = bool(predictions)
    assert_type(trainer.predict(model, dataloaders=loader, return_predictions=keep), list[Any] | None)
