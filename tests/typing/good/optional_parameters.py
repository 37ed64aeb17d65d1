"""Parameters the loop does not always pass: written or left out, in every style, and both run.

``dataloader_idx`` is passed only when a stage has several loaders, a step's ``batch_idx`` only when
the step declares it (Lightning's rules). ``main`` runs every class here (tests/typing/test_runtime_agrees.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.utils.data import DataLoader, TensorDataset

from loophooks import LoopModule, Trainer
from loophooks.engine import Callback
from loophooks.spec import STEP_OUTPUT, ConfigureOptimizers, ModelHooks, TrainingStep, ValidationStep


def _loader() -> DataLoader[tuple[Tensor, ...]]:
    return DataLoader(TensorDataset(torch.randn(4, 2)), batch_size=2)


class BatchOnly(LoopModule):
    """Steps without batch_idx, batch hooks without dataloader_idx."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 1)
        self.seen: list[str] = []

    def training_step(self, batch: list[Tensor]) -> Tensor:
        return self.layer(batch[0]).sum()  # type: ignore[no-any-return]

    def validation_step(self, batch: list[Tensor]) -> None:
        self.seen.append("validation_step")

    def test_step(self, batch: list[Tensor]) -> dict[str, Tensor]:
        return {"out": self.layer(batch[0]).sum()}

    def predict_step(self, batch: list[Tensor]) -> Tensor:
        return self.layer(batch[0])  # type: ignore[no-any-return]

    def on_validation_batch_start(self, batch: Any, batch_idx: int) -> None:
        self.seen.append("on_validation_batch_start")

    def on_test_batch_end(self, outputs: STEP_OUTPUT, batch: Any, batch_idx: int) -> None:
        self.seen.append("on_test_batch_end")

    def on_predict_batch_start(self, batch: Any, batch_idx: int) -> None:
        self.seen.append("on_predict_batch_start")

    def configure_optimizers(self) -> Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


class WithIndices(LoopModule):
    """The same hooks with dataloader_idx (a default, as Lightning documents): runs with one loader or several."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 1)
        self.loader_indices: list[int] = []

    def training_step(self, batch: list[Tensor], batch_idx: int) -> Tensor:
        return self.layer(batch[0]).sum()  # type: ignore[no-any-return]

    def validation_step(self, batch: list[Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:
        self.loader_indices.append(dataloader_idx)

    def on_validation_batch_start(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        super().on_validation_batch_start(batch, batch_idx)

    def on_validation_batch_end(self, outputs: STEP_OUTPUT, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        self.loader_indices.append(dataloader_idx)

    def configure_optimizers(self) -> Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


class Explicit(nn.Module, ModelHooks, TrainingStep, ValidationStep, ConfigureOptimizers):
    """The spec's Protocols subclassed explicitly, with both forms side by side."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 1)

    def training_step(self, batch: list[Tensor]) -> Tensor:
        return self.layer(batch[0]).sum()  # type: ignore[no-any-return]

    def validation_step(self, batch: list[Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:
        return None

    def on_validation_batch_end(self, outputs: STEP_OUTPUT, batch: Any, batch_idx: int) -> None:
        pass

    def on_train_batch_end(self, outputs: STEP_OUTPUT, batch: Any, batch_idx: int) -> None:
        pass

    def configure_optimizers(self) -> Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


class CountsWithoutIndex(Callback):
    def __init__(self) -> None:
        self.calls = 0

    def on_validation_batch_end(
        self, trainer: Any, pl_module: Any, outputs: STEP_OUTPUT, batch: Any, batch_idx: int
    ) -> None:
        self.calls += 1

    def on_test_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        self.calls += 1


class CountsWithIndex(Callback):
    def __init__(self) -> None:
        self.calls = 0

    def on_validation_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        self.calls += 1
        super().on_validation_batch_start(trainer, pl_module, batch, batch_idx)

    def on_predict_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        self.calls += 1


def main(root: Path) -> None:
    loader = _loader()
    without, with_index = CountsWithoutIndex(), CountsWithIndex()
    trainer = Trainer(
        max_epochs=1,
        callbacks=[without, with_index],
        default_root_dir=root,
        enable_progress_bar=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
    )
    model = BatchOnly()
    trainer.fit(model, train_dataloaders=loader, val_dataloaders=loader)
    trainer.test(model, dataloaders=loader)
    predictions = trainer.predict(model, dataloaders=loader)
    assert len(predictions) == 2 and model.seen.count("on_validation_batch_start") == 2
    assert without.calls == 4 and with_index.calls == 4  # 2 validation + 2 test; 2 validation + 2 predict

    # Several loaders: only hooks that take dataloader_idx may be in the run (without it, the call fails).
    indexed = WithIndices()
    trainer = Trainer(max_epochs=1, callbacks=(with_index,), default_root_dir=root, enable_progress_bar=False)
    trainer.fit(indexed, train_dataloaders=loader, val_dataloaders=loader)
    trainer.validate(indexed, dataloaders=[loader, loader])
    assert indexed.loader_indices == [0] * 8 + [0, 0, 0, 0, 1, 1, 1, 1]  # sanity check, fit, validate

    trainer.fit(Explicit(), train_dataloaders=loader, val_dataloaders=loader)
