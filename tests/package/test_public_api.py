"""What `import loophooks` gives, and what it costs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import loophooks

ROOT = Path(__file__).resolve().parents[2]


def test_every_public_name_resolves() -> None:
    names = set(loophooks.__all__) - {"__version__"}
    assert names == set(loophooks._HOME)
    for name in names:
        assert getattr(loophooks, name) is not None, name
    assert loophooks.Trainer.__module__.startswith("loophooks.engine")
    assert loophooks.ModelHooks.__module__.startswith("loophooks.spec")


def test_unknown_name_is_an_attribute_error() -> None:
    try:
        loophooks.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as error:
        assert "NoSuchThing" in str(error)
    else:
        raise AssertionError("expected AttributeError")


def _python(code: str, cwd: Path) -> str:
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=True)
    return result.stdout.strip()


def test_importing_loophooks_does_not_import_torch(tmp_path: Path) -> None:
    # pytest loads the conformance plugin in every session of an environment with loophooks installed
    code = "import sys, loophooks, loophooks.conformance._plugin; print('torch' in sys.modules)"
    assert _python(code, tmp_path) == "False"


def test_spec_imports_from_the_repository_root() -> None:
    # the source folders (spec/, engine/) must not shadow the installed package
    out = _python("import loophooks.spec as s; print(s.ModelHooks.__name__, s.DataHooks.__name__)", ROOT)
    assert out == "ModelHooks DataHooks"


def test_python_m_loophooks_is_the_command(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "loophooks", "spec", "--group", "checkpoint"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "on_save_checkpoint" in result.stdout and "on_load_checkpoint" in result.stdout
