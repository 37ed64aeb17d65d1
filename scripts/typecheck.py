"""Type-check the package as it installs: ``python scripts/typecheck.py [mypy args]``.

The source folders (spec/, engine/, conformance/) install under the ``loophooks``
namespace through a package-dir mapping that a type checker cannot see in the
repository, and an editable install reaches them through an import hook that
type checkers do not run. So this builds the installed layout out of symbolic
links in a scratch folder and points mypy at it: the same files, under the names
users import.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAPPING = {"spec": "spec", "engine": "engine", "conformance": "conformance"}


def build_tree(dest: Path) -> Path:
    """Lay out ``dest/loophooks`` as installed; return ``dest`` (the folder to put on the search path)."""
    pkg = dest / "loophooks"
    pkg.mkdir(parents=True, exist_ok=True)
    for entry in (ROOT / "src" / "loophooks").iterdir():
        if entry.name != "__pycache__":
            _link(entry, pkg / entry.name)
    for name, folder in MAPPING.items():
        _link(ROOT / folder, pkg / name)
    stubs = ROOT / "stubs"
    if stubs.is_dir():
        for entry in stubs.iterdir():
            if entry.name.endswith("-stubs"):
                _link(entry, dest / entry.name)
    return dest


def _link(src: Path, dst: Path) -> None:
    if dst.is_symlink() or dst.exists():
        return
    os.symlink(src, dst, target_is_directory=src.is_dir())


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="loophooks-typecheck-") as tmp:
        tree = build_tree(Path(tmp))
        cmd = [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(Path(tmp) / ".mypy_cache"),
            "-p",
            "loophooks",
            *argv,
        ]
        env = dict(os.environ, MYPYPATH=str(tree))
        return subprocess.call(cmd, cwd=tree, env=env)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
