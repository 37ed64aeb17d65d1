"""``BasePredictionWriter``: write predictions per batch and/or per epoch (Lightning's), with the sample indices.

The predict loop records which dataset indices each batch holds by wrapping the
loader's batch sampler (only when a writer is attached and the loader is a
``DataLoader`` with one; otherwise the indices are empty lists, as in Lightning).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal, Optional

from torch.utils.data import DataLoader, IterableDataset, Sampler

from loophooks.engine._errors import ConfigurationError
from loophooks.engine._sampler import loader_settings
from loophooks.engine.callbacks._base import Callback

if TYPE_CHECKING:
    from loophooks.engine._trainer import Trainer

__all__ = ["BasePredictionWriter", "IndexRecorder", "record_batch_indices"]

_INTERVALS = ("batch", "epoch", "batch_and_epoch")


class BasePredictionWriter(Callback):
    """Subclass and implement ``write_on_batch_end`` and/or ``write_on_epoch_end``.

    ``write_interval``: ``"batch"`` (after each predict batch), ``"epoch"`` (once,
    with every prediction and the indices of every batch) or ``"batch_and_epoch"``.
    """

    def __init__(self, write_interval: Literal["batch", "epoch", "batch_and_epoch"] = "batch") -> None:
        if write_interval not in _INTERVALS:
            raise ConfigurationError(
                f"BasePredictionWriter(write_interval=...) must be one of {list(_INTERVALS)}; received {write_interval!r}"
            )
        self.interval = write_interval

    @property
    def on_batch(self) -> bool:
        return self.interval in ("batch", "batch_and_epoch")

    @property
    def on_epoch(self) -> bool:
        return self.interval in ("epoch", "batch_and_epoch")

    def write_on_batch_end(
        self,
        trainer: Trainer,
        pl_module: Any,
        prediction: Any,
        batch_indices: Optional[Sequence[int]],
        batch: Any,
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        """Write one batch's prediction."""
        raise NotImplementedError(
            f"{type(self).__name__} has write_interval={self.interval!r}: implement write_on_batch_end"
        )

    def write_on_epoch_end(
        self, trainer: Trainer, pl_module: Any, predictions: Sequence[Any], batch_indices: Sequence[Any]
    ) -> None:
        """Write every prediction of the run."""
        raise NotImplementedError(
            f"{type(self).__name__} has write_interval={self.interval!r}: implement write_on_epoch_end"
        )

    def on_predict_batch_end(
        self, trainer: Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if self.on_batch:
            loop = trainer.predict_loop
            self.write_on_batch_end(
                trainer, pl_module, outputs, loop.current_batch_indices, batch, batch_idx, dataloader_idx
            )

    def on_predict_epoch_end(self, trainer: Trainer, pl_module: Any) -> None:
        if self.on_epoch:
            loop = trainer.predict_loop
            self.write_on_epoch_end(trainer, pl_module, loop.predictions, loop.epoch_batch_indices)


class IndexRecorder(Sampler[list[int]]):
    """A batch sampler that hands on another's batches and remembers them."""

    def __init__(self, batch_sampler: Any) -> None:
        self.batch_sampler = batch_sampler
        self.seen_batch_indices: list[list[int]] = []

    def __iter__(self) -> Iterator[list[int]]:
        self.seen_batch_indices = []
        for batch in self.batch_sampler:
            self.seen_batch_indices.append(list(batch))
            yield batch

    def __len__(self) -> int:
        return len(self.batch_sampler)


def record_batch_indices(loader: Any) -> tuple[Any, Optional[IndexRecorder]]:
    """``loader`` rebuilt around an :class:`IndexRecorder`, or unchanged (and None) where that is not possible."""
    if type(loader) is not DataLoader or isinstance(loader.dataset, IterableDataset) or loader.batch_sampler is None:
        return loader, None
    recorder = IndexRecorder(loader.batch_sampler)
    kwargs: dict[str, Any] = {"batch_sampler": recorder, **loader_settings(loader)}
    return DataLoader(loader.dataset, **kwargs), recorder
