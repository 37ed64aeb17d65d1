"""Checkpoint files: what goes in, atomic writes, safe loads.

Keys follow Lightning's (``epoch``, ``global_step``, ``state_dict``,
``optimizer_states``, ``lr_schedulers``, ``callbacks``, ``loops``, a version key)
with ``loophooks_version`` in place of ``pytorch-lightning_version``. ``loops``
holds the engine's own resume point and RNG states.
"""

from __future__ import annotations

import os
import pickle
import re
import secrets
import shutil
import socket
import zipfile
from typing import Any

import torch

from loophooks._files import fsync_folder
from loophooks.engine._checkpoint_schema import check_structure
from loophooks.engine._errors import CheckpointError

__all__ = [
    "VERSION_KEY",
    "link_checkpoint_file",
    "load_checkpoint",
    "remove_stale_temporaries",
    "save_checkpoint_file",
]

VERSION_KEY = "loophooks_version"


# A temporary file is named ``.<target>.loophooks-<host>-<pid>-<random>.tmp``: hidden, never ending in
# ``.ckpt``, and naming the process that writes it, so a clean-up removes only files of writers that are
# gone (two runs sharing a folder never delete each other's in-flight files, and a user's own
# ``.something.tmp`` never matches).
_TMP_MARK = ".loophooks-"
_TMP_RE = re.compile(r"^\.(?P<target>.+)\.loophooks-(?P<host>[^-]+)-(?P<pid>\d+)-[0-9a-f]{16}\.tmp$")


def _host() -> str:
    # '-' separates the fields of a temporary name; a host name may hold one
    return (socket.gethostname() or "localhost").replace("-", "_")


def _temporary_path(path: str) -> str:
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}{_TMP_MARK}{_host()}-{os.getpid()}-{secrets.token_hex(8)}.tmp")


def _open_new(path: str) -> int:
    # 0o666 and the process's umask decide the mode, as for any file the user creates (and as Lightning's)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    return os.open(path, flags, 0o666)


def save_checkpoint_file(checkpoint: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``checkpoint`` to ``path`` atomically: a temporary file in the same folder, fsync, ``os.replace``.

    A crash leaves either the old file or the new one, never a torn file. A kill
    (SIGKILL, power loss) can leave the temporary file, whose name says which
    process wrote it; :func:`remove_stale_temporaries` removes it once that
    process is gone. The file's mode follows the umask.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = _temporary_path(os.path.abspath(path))
    fd = _open_new(tmp)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(checkpoint, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    fsync_folder(folder)


def link_checkpoint_file(target: str | os.PathLike[str], link: str | os.PathLike[str]) -> None:
    """Point ``link`` at ``target`` (a relative symlink), replacing what ``link`` was in one rename.

    The old ``link`` stays until the new one is in place. Where symlinks are not
    allowed, ``link`` becomes an atomic copy of ``target``.
    """
    target, link = os.path.abspath(os.fspath(target)), os.path.abspath(os.fspath(link))
    folder = os.path.dirname(link)
    os.makedirs(folder, exist_ok=True)
    tmp = _temporary_path(link)
    try:
        os.symlink(os.path.relpath(target, folder), tmp)
    except OSError:
        with open(target, "rb") as src:
            fd = _open_new(tmp)
            try:
                with os.fdopen(fd, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                    dst.flush()
                    os.fsync(dst.fileno())
            except BaseException:
                _unlink_quietly(tmp)
                raise
    try:
        if os.path.isdir(link) and not os.path.islink(link):
            shutil.rmtree(link)  # as Lightning: a folder in the way of last.ckpt goes
        os.replace(tmp, link)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    fsync_folder(folder)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _is_temporary(name: str) -> bool:
    """Whether ``name`` is a temporary file of :func:`save_checkpoint_file` (see ``_TMP_RE``)."""
    return _TMP_RE.match(name) is not None


def _writer_is_gone(name: str) -> bool:
    """Whether the process that wrote temporary file ``name`` has ended (only knowable on this host)."""
    match = _TMP_RE.match(name)
    if match is None or match["host"] != _host():
        return False
    pid = int(match["pid"])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OSError):  # alive under another user, or unknowable: keep the file
        return False
    return False


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> list[str]:
    """Delete the temporary files that writers killed mid-save (SIGKILL, power loss) left in ``folder``.

    Such a file is never a checkpoint (the rename that would publish it never
    happened). Only files named as this module names them, whose writing process
    (on this host) has ended, are removed: another run writing into the same
    folder keeps its in-flight file, and files the user made are never touched.
    Returns the names removed.
    """
    removed: list[str] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if _is_temporary(name) and _writer_is_gone(name):
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
    if os.path.isdir(path):
        raise CheckpointError(f"checkpoint {path!r} is a directory, not a checkpoint file")
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
    except MemoryError as exc:  # a damaged size field asking for more memory than there is
        raise CheckpointError(f"checkpoint {path!r} is corrupt: loading it asks for more memory than there is") from exc
    except Exception as exc:  # whatever the unpickler or torch's reader meets in a damaged file
        raise CheckpointError(
            f"checkpoint {path!r} is corrupt or not a checkpoint: {type(exc).__name__}: {exc}"
        ) from exc
    return check_structure(checkpoint, path)  # engine/_checkpoint_schema.py: the entries restores read


_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTOCOL = b"\x80"


def _verify_archive(path: str) -> None:
    """Refuse an empty, truncated, bit-flipped or inflated file before unpickling it.

    ``torch.save`` writes a zip archive of *stored* (uncompressed) records with a
    CRC-32 each, but ``torch.load`` does not check them: a flipped byte in tensor
    data loads as a wrong weight. Checking the CRCs costs one extra read of the
    file, and never more: stored records cannot hold more bytes than the file, so
    records that declare more (overlapping or oversized entries of a crafted
    archive) are refused before any is read, and compressed records (torch never
    writes them, and reads only those it needs) are left to ``torch.load`` rather
    than inflated here. Files in torch's legacy (non-zip) format are left to
    ``torch.load``.
    """
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(len(_ZIP_MAGIC))
    except OSError as exc:
        raise CheckpointError(f"checkpoint {path!r} cannot be read: {exc}") from exc
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
            stored = [i for i in archive.infolist() if i.compress_type == zipfile.ZIP_STORED]
            declared = sum(i.file_size for i in stored)
            if declared > size:
                raise CheckpointError(
                    f"checkpoint {path!r} is damaged or crafted: its stored records declare {declared} bytes, more "
                    f"than the file's {size}"
                )
            for info in stored:
                with archive.open(info) as record:  # zipfile checks the CRC-32 when a record is read to its end
                    while record.read(1 << 20):
                        pass
    except CheckpointError:
        raise
    except zipfile.BadZipFile as exc:
        if "CRC" in str(exc):
            raise CheckpointError(
                f"checkpoint {path!r} is corrupted: {exc} (a record does not match its CRC-32: the file was altered "
                "after it was written)"
            ) from exc
        raise CheckpointError(
            f"checkpoint {path!r} is truncated or damaged: its zip archive cannot be read ({exc})"
        ) from exc
    except Exception as exc:  # damaged headers: struct, unicode, overflow, unsupported-method errors
        raise CheckpointError(
            f"checkpoint {path!r} is truncated or damaged: its zip archive cannot be read ({type(exc).__name__}: {exc})"
        ) from exc
