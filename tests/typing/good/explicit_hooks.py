"""A model that subclasses the spec's Protocols explicitly, overriding hooks with precise types."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.utils.data import DataLoader, TensorDataset
from typing_extensions import assert_type

from loophooks.engine import Trainer
from loophooks.spec import STEP_OUTPUT, CheckpointHooks, DataHooks, ModelHooks

Batch = tuple[Tensor, Tensor]


class Regressor(nn.Module, ModelHooks, DataHooks, CheckpointHooks):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(4, 1)
        self.seen: list[int] = []

    def forward(self, x: Tensor) -> Tensor:
        return self.layer(x)  # type: ignore[no-any-return]  # torch's Module.__call__ returns Any

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        x, y = batch
        return nn.functional.mse_loss(self(x), y)

    def validation_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> dict[str, Tensor]:
        x, y = batch
        return {"val_loss": nn.functional.mse_loss(self(x), y)}

    def test_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        return None

    def predict_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        return self(batch[0])  # type: ignore[no-any-return]

    def configure_optimizers(self) -> Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)

    # --- hooks, with narrower or equal types than the spec's --------------------------------------
    def setup(self, stage: str) -> None:
        self.stage = stage

    def on_train_batch_start(self, batch: Batch, batch_idx: int) -> int | None:
        return -1 if batch_idx > 100 else None

    def on_train_batch_end(self, outputs: STEP_OUTPUT, batch: Batch, batch_idx: int) -> None:
        self.seen.append(batch_idx)

    def on_validation_batch_start(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        pass

    def on_before_backward(self, loss: Tensor) -> None:
        assert loss.requires_grad

    def on_before_optimizer_step(self, optimizer: Optimizer) -> None:
        pass

    def train_dataloader(self) -> DataLoader[tuple[Tensor, ...]]:
        return DataLoader(TensorDataset(torch.randn(8, 4), torch.randn(8, 1)), batch_size=4)

    def val_dataloader(self) -> list[DataLoader[tuple[Tensor, ...]]]:
        return [self.train_dataloader(), self.train_dataloader()]

    def on_before_batch_transfer(self, batch: Batch, dataloader_idx: int) -> Batch:
        return batch

    def transfer_batch_to_device(self, batch: Batch, device: torch.device, dataloader_idx: int) -> Batch:
        return batch[0].to(device), batch[1].to(device)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["seen"] = list(self.seen)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.seen = list(checkpoint["seen"])


def run() -> None:
    model = Regressor()
    trainer = Trainer(max_epochs=1, accelerator="cpu", precision="bf16-mixed", enable_progress_bar=False)
    assert_type(trainer.fit(model), None)
    assert_type(trainer.validate(model), list[dict[str, float]])
    assert_type(trainer.test(model, dataloaders=model.train_dataloader()), list[dict[str, float]])
    assert_type(trainer.predict(model, model.train_dataloader()), list[Any])
    assert_type(trainer.current_epoch, int)
    assert_type(trainer.optimizers, list[Optimizer])
    assert_type(trainer.callback_metrics, dict[str, Tensor])
    # The hook a subclass overrides keeps its own (narrower) type; an inherited default keeps the spec's.
    assert_type(model.on_train_batch_start((torch.zeros(1), torch.zeros(1)), 0), int | None)
    assert_type(model.on_after_batch_transfer(object(), 0), Any)
