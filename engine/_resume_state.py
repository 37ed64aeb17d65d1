"""What a checkpoint must hold, beyond torch's RNG, for a resumed fit to repeat the original bit for bit.

The fit loop already saves torch's CPU RNG at the epoch's start (to shuffle the
same way again) and at the save. That is not all the randomness a data pipeline
draws from, nor all the training state a mid-epoch checkpoint interrupts:

* **Python's and NumPy's global generators** (augmentations in a Dataset's
  ``__getitem__``): saved at the same two points, and restored at the same points
  of the resumed run.
* **A loader's own ``torch.Generator``** (``DataLoader(generator=...)``, a
  ``RandomSampler(generator=...)``): it decides the shuffle and the workers' base
  seed, and a resumed run builds the loader again with a fresh generator. Saved
  at the epoch's start and at the save, by position among the loader's generators.
* **Gradients accumulated in an open accumulation window** (``accumulate_grad_batches``
  > 1, saved between the window's first batch and its optimizer step): saved and
  put back, so the window's step sums the same gradients.

What cannot be captured is detected when the checkpoint is saved, with a warning
that names it: accumulated gradients of other ranks under DDP, and loaders with
``persistent_workers`` (their workers keep generator states of their own).
Random generators a pipeline keeps privately (a ``random.Random`` or NumPy
``Generator`` object in a Dataset) cannot be seen; docs/ERRORS.md says so.

Everything saved is plain containers and tensors, so ``weights_only=True`` loads it.
"""

from __future__ import annotations

import random
import warnings
from typing import Any, Optional

import torch

__all__ = [
    "accumulated_grads",
    "capture_random",
    "check_grads",
    "restore_grads",
    "restore_random",
    "save_time_warnings",
]


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:  # NumPy is optional
        return None
    return numpy


def loader_generators(loader: Any) -> list[torch.Generator]:
    """The distinct ``torch.Generator``s a loader draws from, in a fixed order (loader, sampler, batch sampler's)."""
    found: list[torch.Generator] = []
    candidates = (
        getattr(loader, "generator", None),
        getattr(getattr(loader, "sampler", None), "generator", None),
        getattr(getattr(getattr(loader, "batch_sampler", None), "sampler", None), "generator", None),
    )
    for g in candidates:
        if isinstance(g, torch.Generator) and g.device.type == "cpu" and not any(g is f for f in found):
            found.append(g)
    return found


def capture_random(loader: Any) -> dict[str, Any]:
    """Python's, NumPy's and the loader's generators' states, as plain containers and tensors."""
    version, internal, gauss = random.getstate()
    states: dict[str, Any] = {"python": [version, list(internal), gauss]}
    np = _numpy()
    if np is not None:
        name, keys, pos, has_gauss, cached = np.random.get_state()
        states["numpy"] = [name, torch.from_numpy(keys.astype("int64")), int(pos), int(has_gauss), float(cached)]
    states["generators"] = [g.get_state() for g in loader_generators(loader)]
    return states


def restore_random(states: Any, loader: Any) -> None:
    """Put back what :func:`capture_random` saved; an entry that is missing or does not fit is left alone."""
    if not isinstance(states, dict):
        return
    python = states.get("python")
    if isinstance(python, (list, tuple)) and len(python) == 3:
        random.setstate((python[0], tuple(python[1]), python[2]))
    np = _numpy()
    saved = states.get("numpy")
    if np is not None and isinstance(saved, (list, tuple)) and len(saved) == 5:
        name, keys, pos, has_gauss, cached = saved
        np.random.set_state((name, keys.numpy().astype("uint32"), pos, has_gauss, cached))
    generators = loader_generators(loader)
    saved_generators = states.get("generators") or []
    if len(saved_generators) != len(generators):
        warnings.warn(
            f"the checkpoint holds the states of {len(saved_generators)} loader generator(s), but train_dataloader "
            f"now has {len(generators)}: the resumed fit will not shuffle as the original did",
            UserWarning,
            stacklevel=3,
        )
        return
    for g, state in zip(generators, saved_generators):
        g.set_state(state)


def accumulated_grads(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The gradients gathered so far in an open accumulation window, by parameter name (on the CPU)."""
    return {name: p.grad.detach().to("cpu", copy=True) for name, p in module.named_parameters() if p.grad is not None}


def check_grads(module: torch.nn.Module, grads: dict[str, torch.Tensor], path: Optional[str]) -> None:
    """Refuse saved accumulated gradients that do not fit the model's parameters (before training starts)."""
    from loophooks.engine._errors import CheckpointError

    params = dict(module.named_parameters())
    unknown = sorted(set(grads) - set(params))
    if unknown:
        raise CheckpointError(
            f"checkpoint {path!r} holds accumulated gradients for parameters the model does not have: {unknown[:5]}"
        )
    for name, grad in grads.items():
        p = params[name]
        if grad.shape != p.shape:
            raise CheckpointError(
                f"checkpoint {path!r}: the accumulated gradient of {name!r} has shape {tuple(grad.shape)}, "
                f"the parameter {tuple(p.shape)}"
            )


def restore_grads(module: torch.nn.Module, grads: dict[str, torch.Tensor]) -> None:
    """Put saved accumulated gradients (checked by :func:`check_grads`) back on their parameters."""
    params = dict(module.named_parameters())
    for name, grad in grads.items():
        p = params[name]
        p.grad = grad.to(device=p.device, dtype=p.dtype)


def save_time_warnings(loader: Any, *, window_open: bool, world_size: int) -> None:
    """Warn, when a checkpoint is saved, about what a resume from it cannot repeat exactly."""
    if window_open and world_size > 1:
        warnings.warn(
            "this checkpoint is saved inside an accumulation window under DDP: only this rank's accumulated "
            "gradients are saved, so a fit resumed from it will not repeat the original exactly",
            UserWarning,
            stacklevel=4,
        )
    if getattr(loader, "persistent_workers", False) and getattr(loader, "num_workers", 0) > 0:
        warnings.warn(
            "train_dataloader keeps persistent workers, whose random states a checkpoint cannot hold: a fit "
            "resumed from it will not draw the same random numbers in its workers as the original",
            UserWarning,
            stacklevel=4,
        )
