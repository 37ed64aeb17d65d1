"""The suite as a framework runs it: ``pytest --pyargs loophooks.conformance`` from its own
directory, against an adapter in its own package (``tests/conformance/fixtures/example_adapter``)."""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys
from pathlib import Path

from loophooks.conformance import Report

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _pytest(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # a config file of the framework's own, so nothing of this repository's is used
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    environ = {**os.environ, "PYTHONPATH": str(FIXTURES), **(env or {})}
    for name in ("LOOPHOOKS_ADAPTER", "LOOPHOOKS_DEVICE", "LOOPHOOKS_LEVEL", "LOOPHOOKS_DEVIATIONS"):
        if env is None or name not in env:
            environ.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path),
         "-p", "no:cacheprovider", "--pyargs", "loophooks.conformance", "-rsxX", *args],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_an_external_adapter_runs_the_suite(tmp_path: Path) -> None:
    result = _pytest(
        tmp_path,
        "--loophooks-adapter=example_adapter:make_adapter",
        "--loophooks-device=cpu",
        "--loophooks-report=report.json",
        "-k", "[fit-cpu] or [fault-cpu] or [bf16-cpu]",
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    report = Report.loads((tmp_path / "report.json").read_text())
    assert report.adapter == "example" and report.ok
    assert {r.id: r.outcome for r in report.results} == {
        "fit-cpu": "passed",
        "fault-cpu": "passed",
        "bf16-cpu": "unsupported",
    }
    assert "loophooks conformance: spec " in out
    assert "adapter example (example_adapter:make_adapter), device cpu, level strict" in out
    assert "loophooks capabilities: accumulation, checkpoint_resume" in out
    assert "SKIPPED [1] " in out and "unsupported: needs bf16-mixed" in out
    assert re.search(r"2 passed, 1 skipped, \d+ deselected", out), out


def test_the_environment_chooses_the_adapter_and_deviations_are_strict_xfail(tmp_path: Path) -> None:
    deviations = tmp_path / "deviations.json"
    deviations.write_text(
        json.dumps(
            {
                "deviations": [
                    {"id": "fault-*", "reason": "we swallow exceptions"},
                    {"id": "fit-cpu", "reason": "we thought this was broken"},
                ]
            }
        )
    )
    result = _pytest(
        tmp_path,
        "-k", "[fit-cpu] or [fault-cpu]",
        "--loophooks-report=report.json",
        env={
            "LOOPHOOKS_ADAPTER": "example_adapter:make_broken_adapter",
            "LOOPHOOKS_DEVICE": "cpu",
            "LOOPHOOKS_DEVIATIONS": str(deviations),
        },
    )
    out = result.stdout
    assert "adapter example (example_adapter:make_broken_adapter), device cpu" in out
    assert f"loophooks deviations: {deviations} (2 declared)" in out
    # a declared case that fails is an expected failure ...
    assert "XFAIL test_conformance.py::test_case[fault-cpu] - deviation: we swallow exceptions" in out
    # ... and a declared case that conforms fails the run: the declaration is stale
    assert "[XPASS(strict)] deviation: we thought this was broken" in out
    assert re.search(r"1 failed, \d+ deselected, 1 xfailed", out), out
    assert result.returncode == 1
    report = Report.loads((tmp_path / "report.json").read_text())
    assert {r.id: r.outcome for r in report.results} == {"fit-cpu": "xpassed", "fault-cpu": "deviation"}
    assert not report.ok


def test_a_failing_trainer_fails_with_the_reason(tmp_path: Path) -> None:
    result = _pytest(tmp_path, "--loophooks-adapter=example_adapter:make_broken_adapter", "--loophooks-device=cpu", "-k", "[fault-cpu]")
    assert result.returncode == 1
    assert "training_step raised RuntimeError, but fit() returned normally" in result.stdout


def test_a_bad_adapter_is_a_usage_error(tmp_path: Path) -> None:
    result = _pytest(tmp_path, "--loophooks-adapter=example_adapter:nothing_here")
    assert result.returncode == 4  # pytest's usage error
    assert "--loophooks-adapter: adapter 'example_adapter:nothing_here': 'example_adapter' has no attribute" in result.stderr
