"""A small classifier: a datamodule, ReduceLROnPlateau on the validation loss, test at the end."""

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, random_split


class Blobs(pl.LightningDataModule):
    def __init__(self, n: int = 96, batch_size: int = 16) -> None:
        super().__init__()
        self.save_hyperparameters()

    def setup(self, stage: str) -> None:
        g = torch.Generator().manual_seed(0)
        y = torch.randint(0, 3, (self.hparams.n,), generator=g)
        x = torch.randn(self.hparams.n, 4, generator=g) + y[:, None].float()
        self.train_set, self.val_set, self.test_set = random_split(
            TensorDataset(x, y), [64, 16, 16], generator=torch.Generator().manual_seed(1)
        )

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.hparams.batch_size, shuffle=True,
                          generator=torch.Generator().manual_seed(2))

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.hparams.batch_size)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test_set, batch_size=self.hparams.batch_size)


class Classifier(pl.LightningModule):
    def __init__(self, hidden: int = 8, lr: float = 0.05) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _loss_acc(self, batch):
        x, y = batch
        logits = self(x)
        return nn.functional.cross_entropy(logits, y), (logits.argmax(1) == y).float().mean()

    def training_step(self, batch, batch_idx):
        loss, _ = self._loss_acc(batch)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        loss, acc = self._loss_acc(batch)
        self.log("val_loss", loss)
        self.log("val_acc", acc)

    def test_step(self, batch, batch_idx):
        loss, acc = self._loss_acc(batch)
        self.log("test_loss", loss)
        self.log("test_acc", acc)

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=self.hparams.lr)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=0, factor=0.5)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": "val_loss"}}


def run(root: str) -> dict:
    pl.seed_everything(0)
    model = Classifier(hidden=8)
    data = Blobs(batch_size=16)
    trainer = pl.Trainer(max_epochs=3, default_root_dir=root, logger=False, enable_progress_bar=False,
                         enable_model_summary=False)
    trainer.fit(model, data)
    fit_metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    tested = trainer.test(model, datamodule=data, verbose=False)
    restored = Classifier.load_from_checkpoint(trainer.checkpoint_callback.best_model_path, weights_only=False)
    return {
        "fit_metrics": fit_metrics,
        "test": tested,
        "lr": trainer.optimizers[0].param_groups[0]["lr"],
        "global_step": trainer.global_step,
        "weights": [p.detach().clone() for p in model.parameters()],
        "restored_hparams": dict(restored.hparams),
        "restored_weights": [p.detach().clone() for p in restored.parameters()],
    }
