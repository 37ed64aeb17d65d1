"""Which samples each process sees in a distributed run.

When the world has more than one process and ``Trainer(use_distributed_sampler=True)``
(the default), each map-style ``DataLoader`` whose sampler is the plain one that
``shuffle=`` chose (``SequentialSampler`` or ``RandomSampler``) is rebuilt with a
``DistributedSampler`` over the same dataset; everything else about the loader
(batch size, collate function, workers, ``drop_last``...) is kept. Left alone:
loaders with a sampler or batch sampler of the user's own (including one that is
already a ``DistributedSampler``), iterable-style datasets, and anything that is
not a ``DataLoader``. Those must shard their data themselves.

The remainder rule, when the dataset does not split evenly:

* ``train``, ``val`` and ``test``: ``DistributedSampler(drop_last=False)``: the
  dataset is padded with its first samples so that every process gets
  ``ceil(len / world_size)`` samples, hence the same number of batches. The loop's
  collectives (gradient all-reduce, barriers, metric reduction) need every process
  to run the same number of steps. A few samples are therefore seen twice per
  epoch; for exact evaluation metrics run ``validate``/``test`` on one device
  (Lightning's rule and warning).
* ``predict``: no padding: process ``r`` takes samples ``r, r + W, r + 2W...``, so
  every sample is predicted exactly once and processes may get one batch fewer.
  The predict loop has no collectives, so unequal lengths are safe.

Shuffling: the training sampler shuffles when the original loader did, with seed
``LOOPHOOKS_SEED`` (default 0), the same on every process; the fit loop calls
``set_epoch(epoch)`` before each epoch (``_fit_loop._set_sampler_epoch``) so each
epoch has its own order. Evaluation never shuffles.

Zero-length loaders: the lengths of every process are gathered. If a loader is
empty on some processes but not on others, every process raises the same
:class:`ConfigurationError` (so none is left waiting in a collective), unless
``Trainer(allow_zero_length_dataloader_with_multiple_devices=True)``; if it is
empty everywhere, a warning says so and the stage is skipped, as on one device.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator, Mapping, Sized
from typing import Any, Optional

import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    DistributedSampler,
    IterableDataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
)

from loophooks.engine._errors import ConfigurationError

__all__ = [
    "UnrepeatedDistributedSampler",
    "sampler_of",
    "check_lengths_across_ranks",
    "loader_settings",
    "distribute_loader",
    "distribute_loaders",
    "needs_distributed_sampler",
]

_STAGE_OF = {
    "train_dataloader": "train",
    "val_dataloader": "val",
    "test_dataloader": "test",
    "predict_dataloader": "predict",
}


class UnrepeatedDistributedSampler(Sampler[int]):
    """Samples ``rank, rank + W, rank + 2W, ...`` of a sized dataset: each index on exactly one process."""

    def __init__(self, dataset: Sized, num_replicas: int, rank: int) -> None:
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is outside [0, {num_replicas})")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, len(self.dataset), self.num_replicas))

    def __len__(self) -> int:
        return len(range(self.rank, len(self.dataset), self.num_replicas))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch


def needs_distributed_sampler(loader: Any) -> bool:
    """Whether :func:`distribute_loader` would replace ``loader``'s sampler (see the module docstring)."""
    if not isinstance(loader, DataLoader):
        return False
    if type(loader) is not DataLoader:
        # A subclass may take other constructor arguments; it cannot be rebuilt safely.
        warnings.warn(
            f"{type(loader).__name__} is a DataLoader subclass: its sampler is left alone, so every process "
            "sees the whole dataset unless it shards the data itself (use a DistributedSampler)",
            UserWarning,
            stacklevel=4,
        )
        return False
    if isinstance(loader.dataset, IterableDataset) or not isinstance(loader.dataset, Sized):
        return False
    batch_sampler = loader.batch_sampler
    if batch_sampler is not None and type(batch_sampler) is not BatchSampler:
        return False  # a batch sampler of the user's own
    return type(loader.sampler) in (SequentialSampler, RandomSampler)


def loader_settings(loader: DataLoader[Any]) -> dict[str, Any]:
    """The keyword arguments that rebuild ``loader`` the same, apart from how it samples and batches."""
    kwargs: dict[str, Any] = {
        "num_workers": loader.num_workers,
        "collate_fn": loader.collate_fn,
        "pin_memory": loader.pin_memory,
        "timeout": loader.timeout,
        "worker_init_fn": loader.worker_init_fn,
        "multiprocessing_context": loader.multiprocessing_context,
        "generator": loader.generator,
        "persistent_workers": loader.persistent_workers,
    }
    if loader.num_workers > 0:  # DataLoader refuses a prefetch_factor without workers
        kwargs["prefetch_factor"] = loader.prefetch_factor
    pin_device = getattr(loader, "pin_memory_device", "")
    if pin_device:
        kwargs["pin_memory_device"] = pin_device
    return kwargs


def distribute_loader(loader: Any, stage: str, *, num_replicas: int, rank: int) -> Any:
    """``loader`` rebuilt with this process's share of its dataset, or ``loader`` unchanged (module docstring)."""
    if not needs_distributed_sampler(loader):
        return loader
    assert isinstance(loader, DataLoader)
    dataset: Dataset[Any] = loader.dataset
    sampler: Sampler[int]
    if stage == "predict":
        sampler = UnrepeatedDistributedSampler(dataset, num_replicas, rank)  # type: ignore[arg-type]
    else:
        shuffle = stage == "train" and isinstance(loader.sampler, RandomSampler)
        seed = int(os.environ.get("LOOPHOOKS_SEED", "0"))
        sampler = DistributedSampler(
            dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=False
        )
    batch_sampler = loader.batch_sampler
    batch_size = loader.batch_size
    drop_last = loader.drop_last
    if batch_sampler is not None and batch_size is None:  # DataLoader(batch_sampler=BatchSampler(...))
        batch_size = batch_sampler.batch_size  # type: ignore[attr-defined]
        drop_last = batch_sampler.drop_last  # type: ignore[attr-defined]
    kwargs = {"batch_size": batch_size, "sampler": sampler, "drop_last": drop_last, **loader_settings(loader)}
    return DataLoader(dataset, **kwargs)


def distribute_loaders(loaders: Any, source: str, *, num_replicas: int, rank: int) -> Any:
    """:func:`distribute_loader` over what a ``*_dataloader`` hook returned: one loader, a list/tuple, or a dict."""
    stage = _STAGE_OF.get(source, "train")
    if loaders is None:
        return None
    if isinstance(loaders, Mapping):
        return {k: distribute_loader(v, stage, num_replicas=num_replicas, rank=rank) for k, v in loaders.items()}
    if isinstance(loaders, (list, tuple)):
        out = [distribute_loader(v, stage, num_replicas=num_replicas, rank=rank) for v in loaders]
        return type(loaders)(out) if isinstance(loaders, tuple) else out
    return distribute_loader(loaders, stage, num_replicas=num_replicas, rank=rank)


def _length(loader: Any) -> float:
    try:
        return float(len(loader))
    except TypeError:
        return math.inf


def check_lengths_across_ranks(
    loaders: list[Any], source: str, gather: Any, *, allow_zero_length: bool, rank: int
) -> None:
    """Raise on every process, or on none, when some process has an empty loader (module docstring).

    ``gather(tensor) -> list[tensor]`` is the strategy's all-gather (every process
    calls this function with its loaders, in the same order).
    """
    local = torch.tensor([_length(dl) for dl in loaders], dtype=torch.float64)
    everyone = gather(local)
    table = torch.stack(everyone)  # (world, loaders)
    for i in range(table.shape[1]):
        column = table[:, i]
        empty = [r for r, n in enumerate(column.tolist()) if n == 0]
        if not empty:
            continue
        if len(empty) == len(column):
            if rank == 0:
                warnings.warn(
                    f"{source} (loader {i}) has no batches on any process; the stage is skipped",
                    UserWarning,
                    stacklevel=3,
                )
            continue
        if not allow_zero_length:
            raise ConfigurationError(
                f"{source} (loader {i}) has zero length on process rank(s) {empty} but not on the others "
                f"(lengths by rank: {[int(n) if n != math.inf else 'unsized' for n in column.tolist()]}); "
                "the processes would run different numbers of steps. Give every process data, or pass "
                "Trainer(allow_zero_length_dataloader_with_multiple_devices=True)"
            )


def sampler_of(loader: Any) -> Optional[Sampler[Any]]:
    """The index sampler a loader draws from (for tests and ``set_epoch``)."""
    batch_sampler = getattr(loader, "batch_sampler", None)
    inner = getattr(batch_sampler, "sampler", None)
    return inner if inner is not None else getattr(loader, "sampler", None)
