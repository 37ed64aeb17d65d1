# mypy: enable-error-code="explicit-override"
# pyright: reportImplicitOverride=true
"""Every hook marked ``@override``, with the checkers set to demand it (the two comments above, or the README's
project-wide settings): a hook that no longer exists, such as ``on_epoch_end``, is then an error. ``main`` runs it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.utils.data import DataLoader, TensorDataset
from typing_extensions import override

from loophooks import LoopModule, Trainer
from loophooks.engine import Callback
from loophooks.spec import STEP_OUTPUT


class Model(LoopModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 1)
        self.stopped_at: int | None = None

    @override
    def forward(self, x: Tensor) -> Tensor:
        return self.layer(x)  # type: ignore[no-any-return]

    def training_step(self, batch: list[Tensor], batch_idx: int) -> Tensor:
        # Not an override, nor is configure_optimizers: LoopModule declares neither (nor validation_step,
        # test_step), so that the Trainer's types can demand them of a model.
        return self(batch[0]).sum()  # type: ignore[no-any-return]

    # `Literal[-1] | None`, narrower than the spec's `int | None`: `return 1` or `return True` here is an error.
    @override
    def on_train_batch_start(self, batch: Any, batch_idx: int) -> Literal[-1] | None:
        if batch_idx == 1:
            self.stopped_at = batch_idx
            return -1
        return None

    @override
    def on_train_epoch_end(self) -> None:
        pass

    def configure_optimizers(self) -> Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


class Plain(LoopModule):
    """Lightning's own annotation, `-> int | None`, stays correct."""

    def training_step(self, batch: list[Tensor], batch_idx: int) -> None:
        return None

    @override
    def on_train_batch_start(self, batch: Any, batch_idx: int) -> int | None:
        return None

    def configure_optimizers(self) -> None:
        return None


class Watcher(Callback):
    def __init__(self) -> None:
        self.batches = 0

    @override
    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: STEP_OUTPUT, batch: Any, batch_idx: int) -> None:
        self.batches += 1

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"batches": self.batches}


def main(root: Path) -> None:
    loader = DataLoader(TensorDataset(torch.randn(8, 2)), batch_size=2)
    watcher = Watcher()
    trainer = Trainer(max_epochs=1, callbacks=[watcher], default_root_dir=root, enable_progress_bar=False)
    model = Model()
    trainer.fit(model, train_dataloaders=loader)
    assert model.stopped_at == 1 and watcher.batches == 1  # -1 ended the epoch at the second batch
    Trainer(max_epochs=1, default_root_dir=root, enable_progress_bar=False).fit(Plain(), train_dataloaders=loader)
