"""The benchmarks still run: each once, on a few steps, with timing off.

`make bench` measures; this only catches breakage (an API the benchmarks use
changed, a benchmark that errors). It runs the suite in a subprocess, as
`pytest benchmarks` with `--benchmark-disable` and LOOPHOOKS_BENCH_SMOKE=1
(few steps, one round), and then checks that report.py renders a JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"

pytest.importorskip("pytest_benchmark")


def test_every_benchmark_runs_once() -> None:
    env = {**os.environ, "LOOPHOOKS_BENCH_SMOKE": "1"}
    env.pop("LOOPHOOKS_CHECKS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(BENCHMARKS), "-q", "--benchmark-disable", "-p", "no:randomly"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    summary = proc.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary


def test_report_renders(tmp_path: Path) -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import report
    finally:
        sys.path.remove(str(BENCHMARKS))
    bench = {
        "name": "bench_step[engine-tiny]",
        "group": "step-tiny",
        "stats": {"median": 1.1e-4, "min": 1e-4, "rounds": 3, "data": [1e-4, 1.1e-4, 1.2e-4]},
        "extra_info": {"unit": "step", "ratio_median": 1.04, "baseline_s": [1e-4, 1e-4, 1e-4]},
    }
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"benchmarks": [bench], "machine_info": {}, "commit_info": {}}))
    readme = tmp_path / "README.md"
    readme.write_text(f"# B\n\nmethod\n\n{report.START}\nold\n{report.END}\n\ntail\n")
    assert report.main([str(results), "--readme", str(readme), "--check"]) == 0
    text = readme.read_text()
    assert "old" not in text and "method" in text and text.endswith("tail\n")
    assert "| engine / hand-written loop, tiny model, checks off | 1.04 | <= 1.05 | pass |" in text
    bench["extra_info"]["ratio_median"] = 1.5  # type: ignore[index]
    results.write_text(json.dumps({"benchmarks": [bench]}))
    assert report.main([str(results), "--no-write", "--check"]) == 1
