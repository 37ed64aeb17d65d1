"""``ckpt_path="last"``: finding the newest ``last*.ckpt`` that earlier runs left."""

from __future__ import annotations

import os
import re
import warnings
from typing import TYPE_CHECKING, Optional

from loophooks.engine.callbacks._model_checkpoint import ModelCheckpoint

if TYPE_CHECKING:
    from loophooks.engine._trainer import Trainer

__all__ = ["find_last_checkpoint"]

_LAST = re.compile(rf"^{ModelCheckpoint.CHECKPOINT_NAME_LAST}(-(\d+))?")


def find_last_checkpoint(trainer: Trainer, fn: str) -> Optional[str]:
    """What ``ckpt_path="last"`` names: the newest ``last*.ckpt`` on disk (Lightning's rule).

    Looks in every checkpoint callback's folder (resolved as its ``setup`` would)
    and at every on-exception checkpoint, so a new process finds the files an
    earlier run left. None, with Lightning's warning, when there is none yet: a
    script may say ``"last"`` before its first run.
    """
    from loophooks.engine.callbacks._on_exception_checkpoint import OnExceptionCheckpoint

    candidates: set[str] = set()
    for cb in trainer.callbacks:
        if isinstance(cb, ModelCheckpoint):
            folder = cb._resolve_dirpath(trainer)
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            candidates.update(
                os.path.normpath(os.path.join(folder, n))
                for n in names
                if n.endswith(ModelCheckpoint.FILE_EXTENSION) and _LAST.match(n[: -len(ModelCheckpoint.FILE_EXTENSION)])
            )
        elif isinstance(cb, OnExceptionCheckpoint):
            candidates.add(cb.ckpt_path)
    stamped: dict[str, float] = {}
    for path in candidates:
        try:
            stamped[path] = os.path.getmtime(path)
        except OSError:
            continue
    if not stamped:
        warnings.warn(
            f'.{fn}(ckpt_path="last") is set, but there is no last checkpoint available. No checkpoint will be '
            "loaded. HINT: set ModelCheckpoint(..., save_last=True).",
            stacklevel=3,
        )
        return None
    return max(stamped, key=lambda p: stamped[p])
