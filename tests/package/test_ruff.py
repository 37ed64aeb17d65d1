"""ruff (configured in pyproject.toml's [tool.ruff]) finds nothing in the package folders, and their format is ruff's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("src", "spec", "engine", "conformance")


def test_ruff_finds_nothing_in_the_package() -> None:
    pytest.importorskip("ruff", reason="ruff is in the dev extra: pip install -e '.[dev]'")
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", *FOLDERS], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_reports_a_planted_finding(tmp_path: Path) -> None:
    """The check can fail: an unused import in a file under the same configuration is a finding."""
    pytest.importorskip("ruff")
    planted = tmp_path / "planted.py"
    planted.write_text("import os\n")
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), str(planted)],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert result.returncode == 1 and "F401" in result.stdout, result.stdout + result.stderr


def test_the_package_is_formatted_as_ruff_format_writes_it() -> None:
    """`ruff format --check` (pyproject's [tool.ruff.format]) leaves every package file as it is."""
    pytest.importorskip("ruff")
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--no-cache", *FOLDERS],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_check_reports_a_planted_misformatted_file(tmp_path: Path) -> None:
    """The format check can fail: a file ruff would rewrite is reported."""
    pytest.importorskip("ruff")
    planted = tmp_path / "planted.py"
    planted.write_text("x = {  'a':1 }\n")
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "--config", str(ROOT / "pyproject.toml"),
         str(planted)],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert result.returncode == 1 and "planted.py" in result.stdout + result.stderr, result.stdout + result.stderr
