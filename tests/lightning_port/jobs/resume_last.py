"""Train two epochs keeping last.ckpt, then a new Trainer continues to four epochs from ckpt_path="last"."""

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Model(pl.LightningModule):
    def __init__(self, lr: float = 0.1) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.layer = nn.Linear(2, 1)
        self.epochs_run = []

    def on_train_epoch_start(self):
        self.epochs_run.append(self.current_epoch)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self.layer(x), y)

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=0.9)
        return [optimizer], [torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)]


def trainer(root: str, epochs: int) -> pl.Trainer:
    checkpoint = ModelCheckpoint(dirpath=f"{root}/ckpts", save_last=True)
    return pl.Trainer(max_epochs=epochs, default_root_dir=root, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, callbacks=[checkpoint])


def run(root: str) -> dict:
    pl.seed_everything(2)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(24, 2, generator=g)
    data = DataLoader(TensorDataset(x, x @ torch.tensor([[1.0], [-2.0]])), batch_size=8)
    first = Model()
    trainer(root, 2).fit(first, data)
    second = Model()
    resumed = trainer(root, 4)
    resumed.fit(second, data, ckpt_path="last")
    return {
        "epochs_run": [first.epochs_run, second.epochs_run],
        "global_step": resumed.global_step,
        "lr": resumed.optimizers[0].param_groups[0]["lr"],
        "weights": [p.detach().clone() for p in second.parameters()],
    }
