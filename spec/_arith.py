"""The arithmetic behind the call order: how many batches run, when gradients are
zeroed and stepped, when validation and learning-rate schedulers run.

Each function answers one question the loops ask, with Lightning's meaning of the
Trainer options. They are pure, so they are tested on their own
(``tests/spec/test_order_vs_lightning.py``) and shared by the order generator and by
anyone writing a loop.
"""

from __future__ import annotations

import math

__all__ = [
    "eval_batches",
    "limit_batches",
    "optimizer_steps_per_epoch",
    "sanity_batches",
    "steps_optimizer",
    "val_check_batch",
    "validates_after",
    "validates_in_epoch",
    "zeroes_grad",
]


def limit_batches(length: int, limit: int | float | None) -> int:
    """Batches a loader of ``length`` batches yields under ``limit_*_batches``.

    An int caps the count; a float is a fraction of ``length`` rounded down; ``None``
    means all. A non-zero fraction that rounds to no batch is an error, as in
    Lightning, because it is almost certainly a mistake.
    """
    if limit is None or length == 0:
        return length
    if isinstance(limit, bool):
        raise TypeError(f"limit_*_batches: expected int or float, got bool {limit!r}")
    if isinstance(limit, int):
        if limit < 0:
            raise ValueError(f"limit_*_batches: expected a non-negative int, got {limit}")
        return min(length, limit)
    if not 0.0 <= limit <= 1.0:
        raise ValueError(f"limit_*_batches: expected a fraction in [0.0, 1.0], got {limit}")
    count = int(length * limit)
    if count == 0 and limit > 0.0:
        raise ValueError(
            f"limit_*_batches={limit} of a loader with {length} batches selects no batch; use at least {1.0 / length}"
        )
    return count


def eval_batches(lengths: tuple[int, ...], limit: int | float | None) -> list[int]:
    """Batches run per evaluation loader; the limit applies to each loader on its own."""
    return [limit_batches(n, limit) for n in lengths]


def sanity_batches(per_loader: list[int], num_sanity_val_steps: int) -> list[int]:
    """Batches the sanity check runs per validation loader (``-1``: all of them)."""
    if num_sanity_val_steps == -1:
        return list(per_loader)
    return [min(num_sanity_val_steps, n) for n in per_loader]


def steps_optimizer(batch_idx: int, num_batches: int, accumulate: int) -> bool:
    """Whether training batch ``batch_idx`` (0-based, within its epoch) ends with an
    optimizer step: every ``accumulate``-th batch, and always the epoch's last batch,
    so gradients never carry over into the next epoch."""
    return (batch_idx + 1) % accumulate == 0 or batch_idx + 1 == num_batches


def zeroes_grad(batch_idx: int, accumulate: int) -> bool:
    """Whether gradients are zeroed in training batch ``batch_idx``: on the first batch
    of each accumulation window, counted from the start of the epoch."""
    return batch_idx % accumulate == 0


def val_check_batch(num_batches: int, val_check_interval: int | float | None) -> int:
    """Validate after every this many training batches.

    An int interval counts batches; a float is a fraction of the epoch, rounded
    down but at least one batch; ``None`` means once per epoch.
    """
    if val_check_interval is None:
        return num_batches
    if isinstance(val_check_interval, int):
        if val_check_interval < 1:
            raise ValueError(f"val_check_interval: expected an int >= 1, got {val_check_interval}")
        return val_check_interval
    if not 0.0 < val_check_interval <= 1.0:
        raise ValueError(f"val_check_interval: expected a fraction in (0.0, 1.0], got {val_check_interval}")
    return max(1, int(num_batches * val_check_interval))


def validates_in_epoch(epoch: int, check_val_every_n_epoch: int | None) -> bool:
    """Whether validation may run in ``epoch`` (0-based): every
    ``check_val_every_n_epoch``-th epoch, or every epoch when it is ``None``."""
    return check_val_every_n_epoch is None or (epoch + 1) % check_val_every_n_epoch == 0


def validates_after(
    *,
    batch_idx: int,
    total_batch_idx: int,
    epoch: int,
    num_batches: int,
    check_val_every_n_epoch: int | None,
    val_check_interval: int | float | None,
) -> bool:
    """Whether validation runs after training batch ``batch_idx`` of ``epoch``.

    Only in epochs ``check_val_every_n_epoch`` selects (every epoch when it is
    ``None``); then after every ``val_check_batch`` batches, counted within the
    epoch, or across epochs (``total_batch_idx``) when ``check_val_every_n_epoch``
    is ``None``.
    """
    if not validates_in_epoch(epoch, check_val_every_n_epoch):
        return False
    every = val_check_batch(num_batches, val_check_interval)
    counted = total_batch_idx if check_val_every_n_epoch is None else batch_idx
    return (counted + 1) % every == 0


def optimizer_steps_per_epoch(num_batches: int, accumulate: int) -> int:
    """Optimizer steps one full epoch makes (the last, partial window steps too)."""
    return math.ceil(num_batches / accumulate)
