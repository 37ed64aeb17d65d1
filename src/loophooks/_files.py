"""Replacing a text file durably: the one writer behind metrics.csv, hparams.yaml, profiler reports and the
conformance suite's reports and traces.

A crash or a kill leaves either the old file or the new one, never a torn one; the
new file's mode follows the umask, as any file the user's own tools would write.
It lives in the root package, beside neither part, because both the engine and the
conformance plugin use it and the plugin must not import the engine (nor torch):
this module imports only the standard library. Checkpoints have their own writer
(engine/_checkpoint.py): they are torch archives with temporary files named after
their writer.
"""

from __future__ import annotations

import os
import tempfile

__all__ = ["fsync_folder", "write_text_durably"]


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def write_text_durably(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder, fsync it, rename it over ``path``."""
    path = os.fspath(path)
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:  # already renamed or never created: nothing to clean
            pass
        raise
    fsync_folder(directory)


def fsync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable, where the platform lets a folder be opened and synced."""
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:  # some filesystems refuse fsync on a directory
        pass
    finally:
        os.close(dfd)
