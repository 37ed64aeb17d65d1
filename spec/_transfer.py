"""Moving a batch to a device: the default of ``transfer_batch_to_device``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, cast

import torch

__all__ = ["move_data_to_device"]


def move_data_to_device(batch: Any, device: torch.device | str) -> Any:
    """Return ``batch`` with every tensor in it moved to ``device``.

    Tensors and anything else with a ``.to(device)`` method move; lists, tuples,
    named tuples, mappings and dataclass instances are rebuilt around their moved
    contents, to any depth; everything else is returned as it is. A CPU batch moved
    to a CUDA device uses non-blocking copies, which are safe because the loop reads
    the batch only on the device's stream.
    """
    if not isinstance(device, torch.device):
        device = torch.device(device)
    if type(batch) is tuple or type(batch) is list:
        # The common batch, a few tensors already where they belong: hand it back rather than rebuild it.
        # On the CPU, Tensor.is_cpu answers without building a device object per tensor (this runs per batch).
        if device.type == "cpu":
            for item in batch:
                if not (isinstance(item, torch.Tensor) and item.is_cpu):
                    break
            else:
                return batch
        else:
            for item in batch:
                if not (isinstance(item, torch.Tensor) and item.device == device):
                    break
            else:
                return batch
    non_blocking = device.type == "cuda"
    return _move(batch, device, non_blocking)


def _move(value: Any, device: torch.device, non_blocking: bool) -> Any:
    if isinstance(value, torch.Tensor):
        if value.device == device:
            return value
        return value.to(device, non_blocking=non_blocking)
    if isinstance(value, (str, bytes, int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        moved = {k: _move(v, device, non_blocking) for k, v in value.items()}
        try:
            return cast(Any, type(value))(moved)
        except TypeError:  # a mapping type that cannot be built from a dict
            return moved
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple
        return type(value)(*(_move(v, device, non_blocking) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(_move(v, device, non_blocking) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _move(getattr(value, f.name), device, non_blocking) for f in dataclasses.fields(value) if f.init
        }
        return dataclasses.replace(value, **changes)
    to = getattr(value, "to", None)
    if callable(to):
        return to(device)
    return value
