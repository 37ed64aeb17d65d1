"""Regression validated on two loaders (an easy and a shifted set), then validate() on both."""

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def make(n: int, shift: float, seed: int) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    return TensorDataset(x + shift, x.sum(1, keepdim=True))


class Regressor(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(3, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self.layer(x), y)

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        x, y = batch
        self.log("val_mse", nn.functional.mse_loss(self.layer(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


def run(root: str) -> dict:
    pl.seed_everything(1)
    model = Regressor()
    vals = [DataLoader(make(8, 0.0, 1), batch_size=4), DataLoader(make(12, 1.0, 2), batch_size=4)]
    trainer = pl.Trainer(max_epochs=2, default_root_dir=root, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False, num_sanity_val_steps=1)
    trainer.fit(model, DataLoader(make(32, 0.0, 0), batch_size=8), vals)
    validated = trainer.validate(model, vals, verbose=False)
    return {
        "validated": validated,
        "num_val_batches": trainer.num_val_batches,
        "weights": [p.detach().clone() for p in model.parameters()],
    }
