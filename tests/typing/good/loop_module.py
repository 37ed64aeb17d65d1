"""A LoopModule with a datamodule and callbacks, the way the engine's examples write them."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader, TensorDataset
from typing_extensions import assert_type

from loophooks import LoopModule, Trainer
from loophooks.engine import Callback, EarlyStopping, LoopDataModule, ModelCheckpoint
from loophooks.spec import STEP_OUTPUT


class Classifier(LoopModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(8, 3)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> dict[str, Tensor]:
        x, y = batch
        loss = nn.functional.cross_entropy(self.net(x), y)
        self.log("train_loss", loss)
        return {"loss": loss}

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:
        x, y = batch
        self.log("val_loss", nn.functional.cross_entropy(self.net(x), y))

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = torch.optim.Adam(self.parameters(), lr=1e-3)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": StepLR(optimizer, 1), "interval": "step"}}

    def on_train_epoch_end(self) -> None:
        assert_type(self.current_epoch, int)


class Data(LoopDataModule):
    def setup(self, stage: str) -> None:
        self.data = TensorDataset(torch.randn(16, 8), torch.randint(0, 3, (16,)))

    def train_dataloader(self) -> DataLoader[tuple[Tensor, ...]]:
        return DataLoader(self.data, batch_size=4)

    def val_dataloader(self) -> DataLoader[tuple[Tensor, ...]]:
        return DataLoader(self.data, batch_size=8)


class CountBatches(Callback):
    def __init__(self) -> None:
        self.count = 0

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: STEP_OUTPUT, batch: Any, batch_idx: int
    ) -> None:
        self.count += 1

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self.count = -1

    def state_dict(self) -> dict[str, Any]:
        return {"count": self.count}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.count = int(state_dict["count"])


def run() -> None:
    trainer = Trainer(
        accelerator="auto",
        devices=1,
        precision="16-mixed",
        max_epochs=None,
        max_steps=10,
        limit_train_batches=0.5,
        limit_val_batches=2,
        val_check_interval=1.0,
        accumulate_grad_batches=2,
        gradient_clip_val=1.0,
        gradient_clip_algorithm="norm",
        callbacks=[CountBatches(), ModelCheckpoint(), EarlyStopping(monitor="val_loss")],
        default_root_dir="runs",
        check_hooks=True,
    )
    model, data = Classifier(), Data()
    trainer.fit(model, datamodule=data)
    trainer.fit(model, data)  # the datamodule in the loaders' place, as Lightning allows
    trainer.fit(model, datamodule=data, ckpt_path="runs/last.ckpt")
    assert_type(trainer.validate(model, datamodule=data), list[dict[str, float]])
    assert_type(trainer.validate(model, data), list[dict[str, float]])
    assert_type(trainer.predict(model, datamodule=data, return_predictions=False), None)
    assert_type(trainer.checkpoint_callback, ModelCheckpoint | None)
    trainer.save_checkpoint("runs/manual.ckpt")
    trainer.should_stop = True
