"""Tiny deterministic data for scenarios: datasets, loaders, a datamodule, a custom batch.

Every loader yields full batches of :data:`~loophooks.spec.BATCH_SIZE` rows of
:data:`~loophooks.spec.FEATURES` features, as the spec's expected arguments assume.
"""

from __future__ import annotations

from typing import Any, Final

import torch
from torch.utils.data import DataLoader, Dataset

from loophooks.spec import BATCH_SIZE, FEATURES, Scenario

__all__ = [
    "CustomBatch",
    "RowDataset",
    "batch_sources",
    "fingerprint",
    "loaders_for",
    "make_datamodule",
    "make_loader",
]


class RowDataset(Dataset[torch.Tensor]):
    """``rows`` fixed random rows (seeded, so every run sees the same data)."""

    def __init__(self, rows: int, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.data = torch.randn(rows, FEATURES, generator=gen)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.data[index]


class CustomBatch:
    """A batch type a trainer cannot move by itself: the model's
    ``transfer_batch_to_device`` has to (the custom batch transfer scenario)."""

    def __init__(self, x: torch.Tensor) -> None:
        self.x = x

    def to(self, device: torch.device | str) -> CustomBatch:
        return CustomBatch(self.x.to(device))


def _collate_custom(rows: list[torch.Tensor]) -> CustomBatch:
    return CustomBatch(torch.stack(rows))


def make_loader(batches: int, *, custom: bool = False, seed: int = 0) -> DataLoader[torch.Tensor]:
    """A loader of ``batches`` full batches, in a fixed order."""
    return DataLoader(
        RowDataset(batches * BATCH_SIZE, seed),
        batch_size=BATCH_SIZE,
        shuffle=False,
        collate_fn=_collate_custom if custom else None,
    )


def _one_or_many(counts: tuple[int, ...], custom: bool, seed: int) -> Any:
    loaders = [make_loader(n, custom=custom, seed=seed + i) for i, n in enumerate(counts)]
    return loaders[0] if len(loaders) == 1 else loaders


# The seed of each stage's first loader; loader i of a stage uses seed + i. The data is
# tagged by these seeds: every batch of every loader is told apart by its first row.
_SEEDS: Final = {"train": 1, "val": 10, "test": 20, "predict": 30}


def _counts(scenario: Scenario) -> dict[str, tuple[int, ...]]:
    return {
        "train": scenario.combined_train or (scenario.train_batches,),
        "val": scenario.val_batches,
        "test": scenario.test_batches,
        "predict": scenario.predict_batches,
    }


Fingerprint = tuple[float, ...]


def fingerprint(batch: Any) -> Fingerprint | None:
    """The first row of ``batch`` as floats (on the CPU), or ``None`` for what is not a batch of rows.

    A combined batch (a list of batches, from several training loaders) is known by its first loader's batch.
    """
    if isinstance(batch, list) and batch:
        batch = batch[0]
    rows = batch.x if isinstance(batch, CustomBatch) else batch
    if not isinstance(rows, torch.Tensor) or rows.ndim != 2 or rows.shape[0] == 0:
        return None
    return tuple(float(v) for v in rows[0].detach().float().cpu().tolist())


def batch_sources(scenario: Scenario) -> dict[Fingerprint, tuple[str, int, int]]:
    """Every batch the scenario's loaders yield, by :func:`fingerprint`:
    ``(stage, loader index, position in the loader)``."""
    table: dict[Fingerprint, tuple[str, int, int]] = {}
    for stage, counts in _counts(scenario).items():
        for loader, n in enumerate(counts):
            data = RowDataset(n * BATCH_SIZE, _SEEDS[stage] + loader).data
            for position in range(n):
                table[tuple(float(v) for v in data[position * BATCH_SIZE].tolist())] = (stage, loader, position)
    return table


def loaders_for(scenario: Scenario) -> dict[str, Any]:
    """The loaders of ``scenario`` by stage: ``"train"``, ``"val"``, ``"test"``, ``"predict"``;
    one loader, or a list where the scenario has several."""
    custom = scenario.custom_batch
    return {
        "train": (
            [make_loader(n, custom=custom, seed=_SEEDS["train"] + i) for i, n in enumerate(scenario.combined_train)]
            if scenario.combined_train
            else make_loader(scenario.train_batches, custom=custom, seed=_SEEDS["train"])
        ),
        "val": _one_or_many(scenario.val_batches, custom, _SEEDS["val"]),
        "test": _one_or_many(scenario.test_batches, custom, _SEEDS["test"]),
        "predict": _one_or_many(scenario.predict_batches, custom, _SEEDS["predict"]),
    }


def make_datamodule(base: type[Any], scenario: Scenario) -> type[Any]:
    """A datamodule class on ``base`` serving the loaders of ``scenario``."""

    class ScenarioDataModule(base):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self._loaders = loaders_for(scenario)

        def prepare_data(self) -> None:  # overridden so that the loop calls it
            super().prepare_data()

        def train_dataloader(self) -> Any:
            return self._loaders["train"]

        def val_dataloader(self) -> Any:
            return self._loaders["val"]

        def test_dataloader(self) -> Any:
            return self._loaders["test"]

        def predict_dataloader(self) -> Any:
            return self._loaders["predict"]

        if scenario.custom_batch:

            def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
                return batch.to(device) if isinstance(batch, CustomBatch) else batch

    return ScenarioDataModule
