"""Manual optimization with two optimizers (a tiny GAN-like pair), toggling each optimizer's parameters."""

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Pair(pl.LightningModule):
    def __init__(self, lr_g: float = 0.05, lr_d: float = 0.1) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.generator = nn.Linear(2, 2)
        self.discriminator = nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        (real,) = batch
        opt_g, opt_d = self.optimizers()
        noise = torch.randn_like(real)

        self.toggle_optimizer(opt_g)
        fake = self.generator(noise)
        g_loss = nn.functional.softplus(-self.discriminator(fake)).mean()
        self.manual_backward(g_loss)
        opt_g.step()
        opt_g.zero_grad()
        self.untoggle_optimizer(opt_g)

        self.toggle_optimizer(opt_d)
        d_loss = (nn.functional.softplus(-self.discriminator(real)).mean()
                  + nn.functional.softplus(self.discriminator(fake.detach())).mean())
        self.manual_backward(d_loss)
        opt_d.step()
        opt_d.zero_grad()
        self.untoggle_optimizer(opt_d)
        self.log_dict({"g_loss": g_loss, "d_loss": d_loss})

    def configure_optimizers(self):
        return (torch.optim.Adam(self.generator.parameters(), lr=self.hparams.lr_g),
                torch.optim.SGD(self.discriminator.parameters(), lr=self.hparams.lr_d))


def run(root: str) -> dict:
    pl.seed_everything(3)
    real = torch.randn(32, 2) * 0.5 + 2.0
    model = Pair()
    trainer = pl.Trainer(max_epochs=2, default_root_dir=root, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False)
    trainer.fit(model, DataLoader(TensorDataset(real), batch_size=8, shuffle=True))
    return {
        "metrics": {k: float(v) for k, v in trainer.callback_metrics.items()},
        "global_step": trainer.global_step,
        "weights": [p.detach().clone() for p in model.parameters()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
    }
