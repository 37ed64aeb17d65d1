"""Checkpoint files: what goes in, atomic writes, safe loads.

Keys follow Lightning's (``epoch``, ``global_step``, ``state_dict``,
``optimizer_states``, ``lr_schedulers``, ``callbacks``, ``loops``, a version key)
with ``loophooks_version`` in place of ``pytorch-lightning_version``. ``loops``
holds the engine's own resume point and RNG states.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from typing import Any

import torch

from loophooks.engine._errors import CheckpointError

__all__ = ["VERSION_KEY", "load_checkpoint", "remove_stale_temporaries", "save_checkpoint_file"]

VERSION_KEY = "loophooks_version"


def save_checkpoint_file(checkpoint: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``checkpoint`` to ``path`` atomically: a temporary file in the same folder, fsync, ``os.replace``.

    A crash leaves either the old file or the new one, never a torn file, and no temporary file behind.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(checkpoint, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable; not every platform lets a folder be opened
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _is_temporary(name: str) -> bool:
    """Whether ``name`` is a temporary file of :func:`save_checkpoint_file` (``.<target>.<random>.tmp``)."""
    return name.startswith(".") and name.endswith(".tmp")


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> list[str]:
    """Delete the temporary files that writers killed mid-save (SIGKILL, power loss) left in ``folder``.

    Such a file is never a checkpoint (the rename that would publish it never
    happened), but each kill leaves one. Call this only where one writer owns the
    folder, before it writes: a checkpoint callback at the start of fit.
    Returns the names removed.
    """
    removed: list[str] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if _is_temporary(name) and ".ckpt." in name:
            try:
                os.unlink(os.path.join(folder, name))
            except OSError:
                continue
            removed.append(name)
    return removed


def load_checkpoint(path: str | os.PathLike[str], *, weights_only: bool = True) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint_file`.

    ``weights_only=True`` (the default) uses ``torch.load(weights_only=True)``,
    which refuses arbitrary pickled objects. Pass ``weights_only=False`` only for
    files you trust: unpickling can run code.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint file not found: {path!r}")
    _verify_archive(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=weights_only)
    except pickle.UnpicklingError as exc:
        if weights_only and "weights_only" in str(exc):
            raise CheckpointError(
                f"checkpoint {path!r} holds objects that weights_only loading refuses; if you trust the file, "
                "pass weights_only=False"
            ) from exc
        raise CheckpointError(f"checkpoint {path!r} is corrupt or not a checkpoint: {exc}") from exc
    except (EOFError, RuntimeError, OSError, ValueError, TypeError, AttributeError, ImportError) as exc:
        raise CheckpointError(f"checkpoint {path!r} is corrupt or not a checkpoint: {exc}") from exc
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"checkpoint {path!r} is not a training checkpoint (no 'state_dict' entry)")
    return checkpoint


_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTOCOL = b"\x80"


def _verify_archive(path: str) -> None:
    """Refuse an empty, truncated or bit-flipped file before unpickling it.

    ``torch.save`` writes a zip archive with a CRC-32 per record, but
    ``torch.load`` does not check them: a flipped byte in tensor data loads as a
    wrong weight. Checking the CRCs costs one extra read of the file. Files in
    torch's legacy (non-zip) format are left to ``torch.load``.
    """
    with open(path, "rb") as f:
        head = f.read(len(_ZIP_MAGIC))
    if not head:
        raise CheckpointError(f"checkpoint {path!r} is empty (0 bytes): it was never written completely")
    if head != _ZIP_MAGIC:
        if not head.startswith(_PICKLE_PROTOCOL):  # torch's legacy format is a pickle stream
            raise CheckpointError(
                f"checkpoint {path!r} is not a checkpoint: neither a torch zip archive nor a legacy torch file "
                f"(it starts with {head!r})"
            )
        return
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise CheckpointError(
            f"checkpoint {path!r} is truncated or damaged: its zip archive cannot be read ({exc})"
        ) from exc
    if bad is not None:
        raise CheckpointError(
            f"checkpoint {path!r} is corrupted: record {bad!r} does not match its CRC-32 (the file was altered "
            "after it was written)"
        )
