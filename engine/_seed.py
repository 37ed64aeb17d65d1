"""``seed_everything``: one seed for Python's, NumPy's and torch's generators, as Lightning's.

The same calls in the same order as Lightning 2.6, so a seeded script draws the
same numbers under either. ``workers=True`` also seeds each DataLoader worker
process (see :func:`seed_worker`), which the engine installs on loaders that have
workers and no ``worker_init_fn`` of their own.
"""

from __future__ import annotations

import os
import random
from typing import Any, Optional

import torch

__all__ = ["seed_everything", "seed_worker", "install_worker_seeding"]

_MIN_SEED = 0
_MAX_SEED = 2**32 - 1  # NumPy's bound


def seed_everything(seed: Optional[int] = None, workers: bool = False, verbose: bool = True) -> int:
    """Seed ``random``, NumPy (when installed) and torch (every device) with ``seed``; return it.

    ``seed=None`` reads ``PL_GLOBAL_SEED`` from the environment, else uses 0 (with a
    warning when ``verbose``). The seed is put in ``PL_GLOBAL_SEED`` and ``workers``
    in ``PL_SEED_WORKERS``, the variables Lightning uses, so subprocesses see them.
    """
    if seed is None:
        env = os.environ.get("PL_GLOBAL_SEED")
        if env is None:
            seed = 0
            if verbose:
                import warnings

                warnings.warn(
                    f"seed_everything: no seed given and PL_GLOBAL_SEED unset; seed set to {seed}", stacklevel=2
                )
        else:
            try:
                seed = int(env)
            except ValueError:
                raise ValueError(f"seed_everything: PL_GLOBAL_SEED={env!r} is not an integer") from None
    else:
        seed = int(seed)  # Lightning accepts anything int() takes
    if not _MIN_SEED <= seed <= _MAX_SEED:
        raise ValueError(f"seed_everything: {seed} is out of bounds; seeds go from {_MIN_SEED} to {_MAX_SEED}")
    os.environ["PL_GLOBAL_SEED"] = str(seed)
    random.seed(seed)
    try:
        import numpy as np
    except ImportError:  # NumPy is optional
        pass
    else:
        np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ["PL_SEED_WORKERS"] = str(int(workers))
    return seed


def seed_worker(worker_id: int, rank: Optional[int] = None) -> None:
    """Seed a DataLoader worker from the global seed, its id and the process rank (distinct per worker and rank).

    The engine's own derivation (numbers differ from Lightning's workers): Python's
    ``random`` mixes the three into independent streams for torch, ``random`` and NumPy.
    """
    base = int(os.environ.get("PL_GLOBAL_SEED", "0"))
    if rank is None:
        rank = int(os.environ.get("RANK", "0"))
    mixer = random.Random(f"loophooks-worker:{base}:{rank}:{worker_id}")
    torch.manual_seed(mixer.getrandbits(63))
    random.seed(mixer.getrandbits(64))
    try:
        import numpy as np
    except ImportError:
        return
    np.random.seed(mixer.getrandbits(32))


def install_worker_seeding(loader: Any) -> None:
    """Give ``loader`` :func:`seed_worker` when ``seed_everything(workers=True)`` ran and it has workers but no init."""
    if os.environ.get("PL_SEED_WORKERS") != "1":
        return
    if getattr(loader, "num_workers", 0) > 0 and getattr(loader, "worker_init_fn", True) is None:
        loader.worker_init_fn = seed_worker
