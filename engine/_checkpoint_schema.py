"""The shape a loaded checkpoint must have before anything restores from it.

``torch.load`` only says that a file unpickles. A damaged or crafted file can
unpickle into the wrong shapes (a string where the epoch goes, a list where the
weights go, an RNG state of the wrong size), which the restore would meet later
as raw ``KeyError``/``TypeError``/``RuntimeError``s, some of them after hooks
ran. :func:`check_structure` reads every entry the engine restores from and
raises :class:`CheckpointError` naming the file, the entry and what it holds.
Entries the engine does not read are left alone (a checkpoint may carry more).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from loophooks.engine._errors import CheckpointError

__all__ = ["check_structure"]


def _shown(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # a repr that raises must not replace the error being reported
        text = "?"
    return f"{type(value).__name__} {text[:80]}{'...' if len(text) > 80 else ''}"


def _bad(path: str, entry: str, expected: str, value: Any) -> CheckpointError:
    return CheckpointError(f"checkpoint {path!r} is malformed: {entry} must be {expected}; it holds {_shown(value)}")


def _int(path: str, entry: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _bad(path, entry, f"an int >= {low}", value)


def _rng(path: str, entry: str, value: Any) -> None:
    """A CPU generator state: a uint8 tensor of the size ``torch.get_rng_state()`` has."""
    if value is None:
        return
    size = torch.get_rng_state().numel()
    if not isinstance(value, torch.Tensor) or value.dtype != torch.uint8 or value.numel() != size:
        raise _bad(path, entry, f"None or a uint8 tensor of {size} bytes (a torch RNG state)", value)


def _random_states(path: str, entry: str, value: Any) -> None:
    """Python's, NumPy's and loader generators' states (engine/_resume_state.py), or None."""
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise _bad(path, entry, "None or a dict of random states", value)
    python = value.get("python")
    if python is not None and not (
        isinstance(python, (list, tuple))
        and len(python) == 3
        and isinstance(python[0], int)
        and isinstance(python[1], (list, tuple))
        and len(python[1]) == 625
        and all(isinstance(i, int) and 0 <= i < 2**32 for i in python[1][:624])
        and isinstance(python[1][624], int)
    ):
        raise _bad(path, f"{entry}['python']", "random.getstate() as [version, 625 ints, gauss]", python)
    numpy = value.get("numpy")
    if numpy is not None and not (
        isinstance(numpy, (list, tuple))
        and len(numpy) == 5
        and numpy[0] == "MT19937"
        and isinstance(numpy[1], torch.Tensor)
        and numpy[1].numel() == 624
        and isinstance(numpy[2], int)
        and 0 <= numpy[2] <= 624
    ):
        raise _bad(path, f"{entry}['numpy']", "numpy.random.get_state() as ['MT19937', 624 keys, pos, ...]", numpy)
    generators = value.get("generators", [])
    if not isinstance(generators, (list, tuple)):
        raise _bad(path, f"{entry}['generators']", "a list of generator states", generators)
    for i, state in enumerate(generators):
        _rng(path, f"{entry}['generators'][{i}]", state)


def check_structure(checkpoint: Any, path: str) -> dict[str, Any]:
    """``checkpoint``, once every entry the engine restores from has the right shape; else CheckpointError."""
    if not isinstance(checkpoint, dict):
        raise CheckpointError(
            f"checkpoint {path!r} is not a training checkpoint (a dict with a 'state_dict' entry): it holds "
            f"{_shown(checkpoint)}"
        )
    if "state_dict" not in checkpoint:
        raise CheckpointError(f"checkpoint {path!r} is not a training checkpoint (no 'state_dict' entry)")
    weights = checkpoint["state_dict"]
    if not isinstance(weights, Mapping):
        raise _bad(path, "'state_dict'", "a dict of tensors", weights)
    for key, value in weights.items():
        if not isinstance(key, str):
            raise _bad(path, "'state_dict'", "a dict with str keys", key)
        if not isinstance(value, torch.Tensor) and value is not None:
            raise _bad(path, f"'state_dict'[{key!r}]", "a tensor", value)
    for entry in ("epoch", "global_step"):
        if entry in checkpoint:
            _int(path, repr(entry), checkpoint[entry], 0)
    for entry in ("optimizer_states", "lr_schedulers"):
        if entry in checkpoint:
            value = checkpoint[entry]
            if not isinstance(value, (list, tuple)) or not all(isinstance(s, Mapping) for s in value):
                raise _bad(path, repr(entry), "a list of state dicts", value)
    for entry in ("callbacks", "MixedPrecision", "loops"):
        if entry in checkpoint and checkpoint[entry] is not None and not isinstance(checkpoint[entry], Mapping):
            raise _bad(path, repr(entry), "a dict", checkpoint[entry])
    loops = checkpoint.get("loops") or {}
    fit = loops.get("fit_loop")
    if fit is not None and not isinstance(fit, Mapping):
        raise _bad(path, "'loops'['fit_loop']", "a dict", fit)
    if isinstance(fit, Mapping) and "batches_done" in fit:  # the engine's own resume point
        where = "'loops'['fit_loop']"
        for key, low in (("epoch", 0), ("global_step", 0), ("batches_done", 0)):
            if key not in fit:
                raise CheckpointError(f"checkpoint {path!r} is malformed: {where} has no {key!r}")
            _int(path, f"{where}[{key!r}]", fit[key], low)
        if "total_batch_idx" in fit:
            _int(path, f"{where}['total_batch_idx']", fit["total_batch_idx"], -1)
        if not isinstance(fit.get("mid_epoch"), bool):
            raise _bad(path, f"{where}['mid_epoch']", "True or False", fit.get("mid_epoch"))
        for key in ("epoch_rng", "rng"):
            _rng(path, f"{where}[{key!r}]", fit.get(key))
        for key in ("epoch_random", "random"):
            _random_states(path, f"{where}[{key!r}]", fit.get(key))
        grads = fit.get("accumulated_grads")
        if grads is not None and (
            not isinstance(grads, Mapping)
            or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in grads.items())
        ):
            raise _bad(path, f"{where}['accumulated_grads']", "a dict of parameter names to tensors", grads)
    elif isinstance(fit, Mapping):  # Lightning's: nested dicts of counters (read in engine/_lightning_ckpt.py)
        for key, value in fit.items():
            if not isinstance(value, Mapping):
                raise _bad(path, f"'loops'['fit_loop'][{key!r}]", "a dict (Lightning's loop state)", value)
    return checkpoint
