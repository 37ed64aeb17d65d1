"""Trainer arguments as users build them: paths as pathlib.Path, callbacks gathered beforehand; ``main`` runs it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.utils.data import DataLoader, TensorDataset
from typing_extensions import assert_type

from loophooks import LoopModule, Trainer
from loophooks.engine import Callback, EarlyStopping, ModelCheckpoint


class Regressor(LoopModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 1)

    def training_step(self, batch: list[Tensor], batch_idx: int) -> Tensor:
        return nn.functional.mse_loss(self.layer(batch[0]), batch[1])

    def validation_step(self, batch: list[Tensor], batch_idx: int) -> None:
        self.log("val_loss", nn.functional.mse_loss(self.layer(batch[0]), batch[1]))

    def predict_step(self, batch: list[Tensor], batch_idx: int) -> Tensor:
        return self.layer(batch[0])  # type: ignore[no-any-return]

    def configure_optimizers(self) -> Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


class Counter(Callback):
    def __init__(self) -> None:
        self.epochs = 0

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        self.epochs += 1


def main(root: Path) -> None:
    loader = DataLoader(TensorDataset(torch.randn(8, 2), torch.randn(8, 1)), batch_size=4)
    # Built beforehand: a list[ModelCheckpoint] is no list[Callback] (lists are invariant); callbacks= takes a Sequence.
    checkpoints = [ModelCheckpoint(dirpath=root / "checkpoints", monitor="val_loss")]
    trainer = Trainer(max_epochs=2, callbacks=checkpoints, default_root_dir=root, enable_progress_bar=False)
    model = Regressor()
    trainer.fit(model, train_dataloaders=loader, val_dataloaders=loader)
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback is not None else ""
    assert Path(best).parent == root / "checkpoints"
    # The best checkpoint, named "best", loads with the safe weights_only default: no Path was stored in it.
    assert_type(trainer.validate(model, dataloaders=loader, ckpt_path="best"), list[dict[str, float]])

    extra: list[Counter] = [Counter()]
    callbacks: tuple[Callback, ...] = (*extra, EarlyStopping(monitor="val_loss", patience=5))
    resumed = Trainer(max_epochs=3, callbacks=callbacks, default_root_dir=root / "resumed", enable_progress_bar=False)
    resumed.fit(model, train_dataloaders=loader, val_dataloaders=loader, ckpt_path=Path(best))
    assert extra[0].epochs == 1  # resumed after epoch 2 of 3

    predictions = resumed.predict(model, dataloaders=loader)
    assert_type(predictions, list[Any])
    assert len(predictions) == 2
    assert_type(resumed.predict(model, dataloaders=loader, return_predictions=True), list[Any])
    assert_type(resumed.predict(model, dataloaders=loader, return_predictions=False), None)
    assert resumed.predict(model, dataloaders=loader, return_predictions=False) is None
