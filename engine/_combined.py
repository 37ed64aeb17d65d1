"""``CombinedLoader``: several loaders read together, with Lightning 2.6's modes and batch shapes.

The loaders sit in any nesting of lists, tuples and dicts; a combined batch has the
same nesting, with each loader's batch in its loader's place. Modes:

- ``max_size_cycle`` (what ``fit`` uses for a list or dict of training loaders):
  until the longest loader ends, the shorter ones starting over when they end;
- ``min_size`` (the class's default): until the shortest ends;
- ``max_size``: until the longest ends, an ended loader giving ``None``;
- ``sequential``: one loader after another, one batch at a time (evaluation only,
  where it is the same as passing the list; ``fit`` refuses it, as Lightning does).

Iterating a ``CombinedLoader`` yields ``(batch, batch_idx, dataloader_idx)``, as
Lightning's does; the engine's loops read the batches alone (:meth:`batches`).
``limits`` (``limit_*_batches`` per loader) shorten the combined length, where
the loop stops; in ``sequential`` mode each loader stops at its own limit.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Callable, Optional, Union

__all__ = ["MODES", "CombinedLoader", "TrainBatches", "combine_training"]

MODES = ("min_size", "max_size_cycle", "max_size", "sequential")
Number = Union[int, float]
_INF = float("inf")


def _flatten(tree: Any) -> tuple[list[Any], Callable[[list[Any]], Any]]:
    """The leaves (loaders) of a nesting of lists, tuples and dicts, and a function that rebuilds the nesting."""
    if isinstance(tree, Mapping):
        keys = list(tree)
        parts = [_flatten(tree[k]) for k in keys]
        kind: Any = type(tree)

        def rebuild_map(leaves: list[Any]) -> Any:
            out, i = [], 0
            for key, (flat, rebuild) in zip(keys, parts):
                out.append((key, rebuild(leaves[i : i + len(flat)])))
                i += len(flat)
            return dict(out) if kind is dict else kind(out)

        return [leaf for flat, _ in parts for leaf in flat], rebuild_map
    if isinstance(tree, (list, tuple)):
        parts = [_flatten(item) for item in tree]
        seq_kind: Any = type(tree)

        def rebuild_seq(leaves: list[Any]) -> Any:
            out, i = [], 0
            for flat, rebuild in parts:
                out.append(rebuild(leaves[i : i + len(flat)]))
                i += len(flat)
            if hasattr(seq_kind, "_fields"):  # a named tuple
                return seq_kind(*out)
            return seq_kind(out)

        return [leaf for flat, _ in parts for leaf in flat], rebuild_seq
    return [tree], lambda leaves: leaves[0]


def _length(loader: Any) -> Number:
    try:
        return len(loader)
    except TypeError:
        return _INF


class CombinedLoader(Iterable[Any]):
    """Several iterables read together (see the module docstring for the modes and shapes)."""

    def __init__(self, iterables: Any, mode: str = "min_size") -> None:
        if mode not in MODES:
            raise ValueError(f"CombinedLoader(mode={mode!r}): the modes are {list(MODES)}")
        self._iterables = iterables
        self._mode = mode
        self._flattened, self._rebuild = _flatten(iterables)
        for loader in self._flattened:
            if not isinstance(loader, Iterable):
                raise TypeError(f"CombinedLoader: {loader!r} is not iterable")
        self._limits: Optional[list[Number]] = None

    # --- what Lightning exposes ------------------------------------------------------------------------
    @property
    def iterables(self) -> Any:
        """The iterables as given (their nesting kept)."""
        return self._iterables

    @property
    def flattened(self) -> list[Any]:
        """The iterables in a flat list, in the order the nesting lists them."""
        return list(self._flattened)

    @flattened.setter
    def flattened(self, flattened: list[Any]) -> None:
        """Replace the iterables (same count), keeping the nesting (the engine uses this for distributed samplers)."""
        if len(flattened) != len(self._flattened):
            raise ValueError(f"CombinedLoader.flattened: {len(flattened)} iterables for {len(self._flattened)} places")
        self._iterables = self._rebuild(list(flattened))
        self._flattened = list(flattened)

    @property
    def limits(self) -> Optional[list[Number]]:
        return self._limits

    @limits.setter
    def limits(self, limits: Optional[Union[Number, list[Number]]]) -> None:
        if limits is None or isinstance(limits, list):
            self._limits = limits
        else:
            self._limits = [limits] * len(self._flattened)

    # --- lengths ---------------------------------------------------------------------------------------
    def _lengths(self) -> list[Number]:
        lengths = [_length(dl) for dl in self._flattened]
        if self._limits is not None:
            lengths = [min(n, limit) for n, limit in zip(lengths, self._limits)]
        return lengths

    def __len__(self) -> int:
        lengths = self._lengths()
        if not lengths:
            return 0
        if self._mode == "min_size":
            total: Number = min(lengths)
        elif self._mode == "sequential":
            total = sum(lengths)
        else:
            total = max(lengths)
        if total == _INF:
            raise TypeError("CombinedLoader: a loader without a length makes the combined length unknown")
        return int(total)

    # --- iterating -------------------------------------------------------------------------------------
    def _limited(self, index: int) -> Iterator[Any]:
        loader = self._flattened[index]
        limit = self._limits[index] if self._limits is not None else _INF
        it = iter(loader)
        return it if limit == _INF else itertools.islice(it, int(limit))

    def batches(self) -> Iterator[Any]:
        """The combined batches alone (modes other than ``sequential``)."""
        count = len(self._flattened)
        # Lightning's rule: limits shorten the length (the loop stops there), not each loader's iteration
        iterators = [iter(dl) for dl in self._flattened]
        consumed = [False] * count
        mode = self._mode
        while count:
            leaves: list[Any] = [None] * count
            for i in range(count):
                if consumed[i] and mode == "max_size":
                    continue  # an ended loader gives None until the longest ends
                try:
                    leaves[i] = next(iterators[i])
                except StopIteration:
                    consumed[i] = True
                    if mode == "min_size" or all(consumed):
                        return
                    if mode == "max_size_cycle":  # start the ended loader over
                        iterators[i] = iter(self._flattened[i])
                        try:
                            leaves[i] = next(iterators[i])
                        except StopIteration:  # an empty loader has nothing to cycle
                            return
            yield self._rebuild(leaves)

    def __iter__(self) -> Iterator[tuple[Any, int, int]]:
        if self._mode == "sequential":
            for index in range(len(self._flattened)):
                for batch_idx, batch in enumerate(self._limited(index)):
                    yield batch, batch_idx, index
            return
        for batch_idx, batch in enumerate(self.batches()):
            yield batch, batch_idx, 0


class TrainBatches:
    """What ``fit`` iterates for several training loaders: the combined batches, with the combined length."""

    __slots__ = ("combined",)

    def __init__(self, combined: CombinedLoader) -> None:
        self.combined = combined

    @property
    def iterables(self) -> Any:
        return self.combined.iterables

    def __iter__(self) -> Iterator[Any]:
        return self.combined.batches()

    def __len__(self) -> int:
        return len(self.combined)


def combine_training(loaders: Any) -> Optional[CombinedLoader]:
    """The CombinedLoader ``fit`` reads for ``loaders``: a list, tuple or dict becomes ``max_size_cycle``
    (Lightning's rule, a list of one included); one loader gives None (read directly)."""
    if isinstance(loaders, CombinedLoader):
        combined = loaders
    elif isinstance(loaders, (list, tuple, Mapping)):
        combined = CombinedLoader(loaders, "max_size_cycle")
    else:
        return None
    if combined._mode == "sequential":
        raise ValueError(
            "fit does not support CombinedLoader(mode='sequential') for training (Lightning refuses it too); "
            f"use one of {[m for m in MODES if m != 'sequential']}"
        )
    return combined
