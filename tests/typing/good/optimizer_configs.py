"""configure_optimizers' dict forms, typed key by key or left as dict[str, Any]; ``main`` fits each model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import ReduceLROnPlateau, StepLR
from torch.utils.data import DataLoader, TensorDataset

from loophooks import LoopModule, Trainer
from loophooks.spec import LRSchedulerConfigType, OptimizerLRScheduler, OptimizerLRSchedulerConfig


class Base(LoopModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 1)

    def training_step(self, batch: list[Tensor], batch_idx: int) -> Tensor:
        loss = self.layer(batch[0]).pow(2).mean()
        self.log("train_loss", loss)
        return loss  # type: ignore[no-any-return]

    def configure_optimizers(self) -> OptimizerLRScheduler:
        return torch.optim.SGD(self.parameters(), lr=0.1)


class TypedUnion(Base):
    """Lightning's recommended annotation: every key of the dict literal is checked."""

    def configure_optimizers(self) -> OptimizerLRScheduler:
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": ReduceLROnPlateau(optimizer), "monitor": "train_loss", "interval": "epoch"},
        }


class TypedDictReturn(Base):
    def configure_optimizers(self) -> OptimizerLRSchedulerConfig:
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        scheduler: LRSchedulerConfigType = {"scheduler": StepLR(optimizer, 1), "interval": "step", "frequency": 2}
        return {"optimizer": optimizer, "lr_scheduler": scheduler}


class OptimizerOnly(Base):
    def configure_optimizers(self) -> OptimizerLRSchedulerConfig:
        return {"optimizer": torch.optim.SGD(self.parameters(), lr=0.1)}


class UntypedDict(Base):
    """An untyped dict still satisfies the spec; its keys are checked when the loop reads them."""

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        return {"optimizer": optimizer, "lr_scheduler": StepLR(optimizer, 1), "monitor": "train_loss"}


class TypedList(Base):
    def configure_optimizers(self) -> list[OptimizerLRSchedulerConfig]:
        return [{"optimizer": torch.optim.SGD(self.parameters(), lr=0.1)}]


class UntypedList(Base):
    def configure_optimizers(self) -> list[dict[str, Any]]:
        return [{"optimizer": torch.optim.SGD(self.parameters(), lr=0.1)}]


class ListsWithConfigs(Base):
    def configure_optimizers(self) -> tuple[list[Optimizer], list[LRSchedulerConfigType]]:
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        return [optimizer], [{"scheduler": StepLR(optimizer, 1), "interval": "step"}]


class ListsUntyped(Base):
    def configure_optimizers(self) -> tuple[list[Optimizer], list[dict[str, Any]]]:
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        return [optimizer], [{"scheduler": StepLR(optimizer, 1)}]


def main(root: Path) -> None:
    loader = DataLoader(TensorDataset(torch.randn(4, 2)), batch_size=2)
    models: list[Base] = [
        TypedUnion(),
        TypedDictReturn(),
        OptimizerOnly(),
        UntypedDict(),
        TypedList(),
        UntypedList(),
        ListsWithConfigs(),
        ListsUntyped(),
    ]
    for model in models:
        trainer = Trainer(max_epochs=1, default_root_dir=root, enable_progress_bar=False, enable_checkpointing=False)
        trainer.fit(model, train_dataloaders=loader)
        assert trainer.global_step == 2
