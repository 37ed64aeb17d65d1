"""Manual optimization with two optimizers, typed without a cast; ``main`` runs it."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.utils.data import DataLoader, TensorDataset
from typing_extensions import assert_type

from loophooks import LoopModule, Trainer
from loophooks.engine import LoopOptimizer


class Gan(LoopModule):
    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.generator = nn.Linear(2, 2)
        self.discriminator = nn.Linear(2, 1)
        self.steps = 0

    def training_step(self, batch: list[Tensor], batch_idx: int) -> None:
        # as_list=True: always a list, typed so, whatever configure_optimizers returned.
        g_opt, d_opt = self.optimizers(as_list=True)
        assert_type(g_opt, LoopOptimizer)
        fake = self.generator(batch[0])
        g_loss = -self.discriminator(fake).mean()
        g_opt.zero_grad()
        self.manual_backward(g_loss, retain_graph=True)
        self.clip_gradients(g_opt, gradient_clip_val=1.0, gradient_clip_algorithm="norm")
        g_opt.step()
        d_loss = self.discriminator(fake.detach()).mean()
        d_opt.zero_grad()
        self.manual_backward(d_loss)
        d_opt.step()
        self.steps += 1

    def configure_optimizers(self) -> list[Optimizer]:
        return [
            torch.optim.Adam(self.generator.parameters(), lr=1e-3),
            torch.optim.SGD(self.discriminator.parameters(), lr=1e-2),
        ]


class Single(LoopModule):
    """One optimizer, as Lightning users write it: the plain call, narrowed with isinstance (no cast)."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.layer = nn.Linear(2, 1)

    def training_step(self, batch: list[Tensor], batch_idx: int) -> Tensor:
        opt = self.optimizers()
        assert not isinstance(opt, list)
        loss = self.layer(batch[0]).sum()
        opt.zero_grad()
        self.manual_backward(loss)
        self.clip_gradients(opt, gradient_clip_val=0.5, gradient_clip_algorithm="value")
        opt.step()
        (only,) = self.optimizers(as_list=True)
        assert only is opt
        return loss.detach()  # type: ignore[no-any-return]

    def configure_optimizers(self) -> Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def main(root: Path) -> None:
    loader = DataLoader(TensorDataset(torch.randn(4, 2)), batch_size=2)
    trainer = Trainer(max_epochs=1, default_root_dir=root, enable_progress_bar=False, enable_checkpointing=False)
    gan = Gan()
    trainer.fit(gan, train_dataloaders=loader)
    assert gan.steps == 2 and trainer.global_step == 4  # each optimizer step counts, as in Lightning
    trainer.fit(Single(), train_dataloaders=loader)
