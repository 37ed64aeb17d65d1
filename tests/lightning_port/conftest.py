"""Run a Lightning job and its mechanical port (loophooks.porting.rename_imports) side by side.

A job is a file in ``jobs/`` written for Lightning 2.6 only. It defines ``run(root)``, which trains in the
folder ``root`` and returns a dict of what the test compares (metrics, returned results, final weights).
The port is the same text through ``rename_imports``: nothing else changes.
"""

from __future__ import annotations

import os
import sys
import types
import warnings
from pathlib import Path
from typing import Any, Callable

import pytest

from loophooks.porting import rename_imports

JOBS = Path(__file__).parent / "jobs"


def load_job(name: str, *, port: bool) -> types.ModuleType:
    source = (JOBS / f"{name}.py").read_text()
    if port:
        source = rename_imports(source)
    module = types.ModuleType(f"_job_{name}_{'port' if port else 'lightning'}")
    module.__file__ = str(JOBS / f"{name}.py")
    sys.modules[module.__name__] = module  # classes defined in the job must be importable by name (pickling)
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module


def files_under(root: Path) -> list[str]:
    """Relative paths of the files a run wrote (checkpoints and the like)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def run_both(name: str, tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    out = []
    for port in (False, True):
        root = tmp_path / ("port" if port else "lightning")
        root.mkdir()
        job = load_job(name, port=port)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = job.run(str(root))
        result["files"] = files_under(root)
        out.append(result)
    return out[0], out[1]


@pytest.fixture(scope="module")
def job_results(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], tuple[dict[str, Any], dict[str, Any]]]:
    """``job_results(name)``: (Lightning's results, the port's), each job run once per module."""
    cache: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}

    def get(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        if name not in cache:
            cache[name] = run_both(name, tmp_path_factory.mktemp(name))
        return cache[name]

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    return get
