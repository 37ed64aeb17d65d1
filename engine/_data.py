"""Loaders: which loaders a run uses, how many batches each gives, and iterating them.

Limits follow Lightning: an int caps the batches, a float is a fraction of the
loader's length (an unsized loader accepts only 1.0), 0 disables the stage.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Optional, Union

from loophooks.engine._errors import ConfigurationError

__all__ = ["END", "BatchIterator", "as_loader_list", "loader_length", "num_batches"]

Number = Union[int, float]


def as_loader_list(loaders: Any, what: str) -> list[Any]:
    """One loader, or a list/tuple/dict of loaders (evaluation runs them one after another)."""
    if loaders is None:
        return []
    from loophooks.engine._combined import CombinedLoader

    if isinstance(loaders, CombinedLoader):  # evaluation reads loaders one after another: mode 'sequential'
        if loaders._mode != "sequential":
            raise ConfigurationError(
                f"{what} returned CombinedLoader(mode={loaders._mode!r}); evaluation and prediction here read "
                "loaders one after another: use mode='sequential' (or a list of loaders). Combined batches in "
                "evaluation are not supported"
            )
        loaders = loaders.flattened
    if isinstance(loaders, Mapping):
        items = list(loaders.values())
    elif isinstance(loaders, (list, tuple)):
        items = list(loaders)
    else:
        items = [loaders]
    for loader in items:
        if not isinstance(loader, Iterable):
            raise ConfigurationError(f"{what} must return an iterable (e.g. a DataLoader); received {loader!r}")
    return items


def loader_length(loader: Any) -> Number:
    try:
        return len(loader)
    except TypeError:
        return float("inf")


def num_batches(length: Number, limit: Number, option: str) -> Number:
    """Batches to take from a loader of ``length`` under ``Trainer(option=limit)``."""
    if length == 0:
        return 0
    if isinstance(limit, bool) or not isinstance(limit, (int, float)):
        raise ConfigurationError(f"Trainer({option}=...) must be an int or a float; received {limit!r}")
    if isinstance(limit, int):
        return min(length, limit)
    if length == float("inf"):
        if limit != 1.0:
            raise ConfigurationError(f"Trainer({option}) must be 1.0 or an int for a loader without a length")
        return length
    n = int(length * limit)
    if n == 0 and limit > 0.0:
        raise ConfigurationError(
            f"Trainer({option}={limit}) of {length} batches is less than one batch; use at least {1.0 / length}"
        )
    return n


class BatchIterator:  # not final: a profiled run times fetch() in a subclass (engine/_profiler_actions.py)
    """Iterate up to ``limit`` batches of ``loader``, knowing when a batch is the last.

    A sized loader needs no look-ahead; an unsized one keeps one batch in hand
    so that ``is_last`` is right for the batch just returned (as Lightning's
    prefetching fetcher does).
    """

    __slots__ = ("_ahead", "_it", "_sized", "count", "is_last", "limit")

    def __init__(self, loader: Iterable[Any], limit: Number, skip: int = 0) -> None:
        self.limit = limit
        self.count = 0
        self.is_last = False
        self._it: Iterator[Any] = iter(loader)
        self._sized = limit != float("inf")
        self._ahead: list[Any] = []
        # Fast-forward over batches already consumed before a mid-epoch checkpoint.
        for _ in range(skip):
            try:
                next(self._it)
            except StopIteration:  # the loader shrank since the checkpoint: nothing left this epoch
                self._sized = True
                self.limit = self.count
                break
            self.count += 1
        if not self._sized:
            self._fill()

    def _fill(self) -> None:
        try:
            self._ahead.append(next(self._it))
        except StopIteration:
            pass

    def __iter__(self) -> BatchIterator:
        return self

    def __next__(self) -> Any:
        batch = self.fetch()
        if batch is END:
            raise StopIteration
        return batch

    def source(self) -> Optional[Iterator[Any]]:
        """For a sized loader, an iterator of the batches still due (the last is the ``limit``-th), which the
        training loop reads with ``next(source, END)``, one frame less per batch than :meth:`fetch`; None for an
        unsized loader, whose last batch only the look-ahead in :meth:`fetch` can tell.

        The caller keeps the count from here on: ``count`` and ``is_last`` are not updated.
        """
        if not self._sized:
            return None
        return itertools.islice(self._it, max(0, int(self.limit) - self.count))

    def fetch(self) -> Any:
        """The next batch, or :data:`END` when there is none: ``next()`` without the exception, for the
        training loop, which fetches once per batch."""
        if self._sized:
            count = self.count
            if count >= self.limit:
                return END
            try:
                batch = next(self._it)
            except StopIteration:
                return END
            self.count = count = count + 1
            self.is_last = count >= self.limit
            return batch
        if not self._ahead:
            return END
        batch = self._ahead.pop()
        self.count += 1
        self._fill()
        self.is_last = not self._ahead
        return batch


END: Any = object()
"""What :meth:`BatchIterator.fetch` returns after the last batch."""
