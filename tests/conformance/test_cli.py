"""``loophooks check`` / ``spec`` / ``cases``: output and exit codes."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from loophooks.conformance import Report, catalogue
from loophooks.conformance._cli import EXIT_CODES, main

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True)
def _example_adapter_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(FIXTURES))
    monkeypatch.delenv("LOOPHOOKS_ADAPTER", raising=False)


def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_a_conforming_trainer_exits_0_and_writes_json(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    code, out = _run("check", "--device", "cpu", "-k", "predict*", "--json", str(path))
    assert code == 0, out
    assert "adapter=engine device=cpu level=strict" in out
    assert "* predict-cpu" in out and "passed" in out
    assert out.rstrip().endswith("CONFORMS")
    report = Report.loads(path.read_text())
    assert report.ok and report.adapter == "engine"
    assert [r.id for r in report.results] == ["predict-cpu", "predict-no-return-cpu", "predict-two-loaders-cpu"]


def test_a_failing_trainer_exits_1_with_the_divergence_below_the_table() -> None:
    code, out = _run("check", "--adapter", "example_adapter:make_broken_adapter", "--device", "cpu", "-k", "fault-*")
    assert code == 1
    assert "  fault-cpu  failed       training_step raised RuntimeError, but fit() returned normally" in out
    assert "=== fault-cpu: failed\ntraining_step raised RuntimeError" in out
    assert out.rstrip().endswith("DOES NOT CONFORM: 1 case(s) failed")


def test_a_declared_deviation_exits_0_and_a_stale_one_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"deviations": {"fault-cpu": "swallows exceptions"}}))
    code, out = _run(
        "check", "--adapter", "example_adapter:make_broken_adapter", "--device", "cpu", "-k", "fault-*",
        "--deviations", str(path),
    )
    assert code == 0, out
    assert "  fault-cpu  deviation    swallows exceptions" in out
    code, out = _run("check", "--adapter", "example_adapter:make_adapter", "--device", "cpu", "-k", "fault-*",
                     "--deviations", str(path))
    assert code == 1
    assert "xpassed" in out and "declared a deviation (swallows exceptions) but conforms: remove it from" in out


def test_unsupported_cases_are_listed_not_passed() -> None:
    code, out = _run("check", "--adapter", "example_adapter:make_adapter", "--device", "all", "-k", "bf16-*")
    assert code == 3, out  # nothing ran: not a pass
    lines = {line.split()[0]: line.split(None, 2)[2] for line in out.splitlines() if line.startswith("  bf16-")}
    # the example adapter declares cuda; without a GPU that would be the next thing missing
    assert lines == {"bf16-cpu": "unsupported: needs bf16-mixed", "bf16-cuda": "unsupported: needs bf16-mixed"}
    assert " unsupported  " in out
    assert "2 unsupported (2 cases)" in out


def test_default_device_runs_only_what_this_machine_has() -> None:
    import torch

    code, out = _run("check", "-k", "fit-no-val-*")
    assert code == 0, out
    assert ("fit-no-val-cuda" in out) == torch.cuda.is_available()
    assert "fit-no-val-cpu" in out


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert _run("check", "-k", "no-such-case")[0] == 2
    assert "no case matches -k 'no-such-case'" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    assert _run("check", "--deviations", str(bad), "-k", "fit-cpu")[0] == 2
    assert "deviations file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        _run("check", "--level", "loose")
    assert info.value.code == 2


def test_spec_and_cases_print_tables() -> None:
    code, out = _run("spec", "--group", "checkpoint")
    assert code == 0
    assert "on_save_checkpoint" in out and "(checkpoint)" in out
    code, out = _run("cases")
    assert code == 0
    assert out.rstrip().endswith(f"{len(catalogue())} cases; * required")


def test_python_dash_m_and_the_console_script() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "loophooks.conformance", "check", "--device", "cpu", "-k", "test-cpu"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "* test-cpu" in result.stdout
    script = shutil.which("loophooks", path=str(Path(sys.executable).parent))
    if script is not None:
        result = subprocess.run([script, "spec"], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0 and "on_train_batch_start" in result.stdout


def test_core_level_and_unused_deviations(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"deviations": {"no-such-case-*": "typo"}}))
    code, out = _run("check", "--level", "core", "--device", "cpu", "-k", "fit-cpu", "--deviations", str(path))
    assert code == 0, out
    assert "level=core" in out
    assert "deviation 'no-such-case-*' matches no case of the catalogue" in capsys.readouterr().err


# --- exit codes: conforms (0), does not conform (1), bad usage (2), could not run (3) ---------------


def test_the_exit_codes_are_documented_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--help"], ["check", "--help"]):
        with pytest.raises(SystemExit) as info:
            _run(*argv)
        assert info.value.code == 0
        text = " ".join(capsys.readouterr().out.split())  # argparse may wrap lines
        assert "exit codes:" in text
        for code, meaning in EXIT_CODES:
            assert f"{code} {' '.join(meaning.split())}" in text
    assert [code for code, _ in EXIT_CODES] == [0, 1, 2, 3]


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without a GPU")
def test_no_case_ran_is_not_a_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # issue 13: `--device cuda` without a GPU ran nothing, printed CONFORMS and exited 0
    path = tmp_path / "report.json"
    code, out = _run("check", "--device", "cuda", "-k", "fit-cuda", "--json", str(path))
    assert code == 3
    assert "CONFORMS" not in out
    assert out.rstrip().endswith("NOTHING CHECKED: no case ran (1 selected, all unsupported)")
    assert "could not run: no case ran" in capsys.readouterr().err
    doc = json.loads(path.read_text())
    assert doc["status"] == "nothing ran" and doc["ok"] is False and doc["ran"] == 0


@pytest.mark.parametrize(
    ("adapter", "says"),
    [
        ("example_adapter:missing", "has no attribute 'missing'"),
        ("no_such_package.adapter:make", "cannot import 'no_such_package.adapter'"),
        ("example_adapter:make_uninstalled_adapter", "ImportError: no module named 'nosuchtrainer'"),
    ],
)
def test_an_adapter_that_does_not_load_could_not_run(adapter: str, says: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run("check", "--adapter", adapter, "-k", "fit-cpu")
    assert code == 3 and out == ""
    err = capsys.readouterr().err
    assert err.startswith("loophooks check: could not run: ") and says in err


def test_unwritable_targets_are_found_before_any_case_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for argv, says in (
        # issue 13: --json into a missing folder ended in a traceback and the "a case failed" code
        (["--json", str(tmp_path / "missing" / "r.json")], "the folder"),
        (["--json", str(tmp_path)], "is a folder, expected a file path"),
        (["--html", str(tmp_path / "missing" / "r.html")], "does not exist"),
        (["--trace-dir", str(tmp_path / "missing" / "traces")], "does not exist"),
        (["--trace-dir", str(a_file)], "exists and is not a folder"),
    ):
        code, out = _run("check", "-k", "fit-cpu", *argv)
        assert (code, out) == (3, ""), argv  # no table: nothing ran
        err = capsys.readouterr().err
        assert f"could not run: {argv[0]} " in err and says in err, err
    assert a_file.read_text() == "x"
    assert not (tmp_path / "missing").exists()


def test_the_suite_failing_itself_is_not_a_verdict(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import loophooks.conformance._runner as runner

    def broken(*args: object, **kwargs: object) -> None:
        raise IndexError("a bug in a rule")

    monkeypatch.setattr(runner, "check", broken)
    code, out = _run("check", "-k", "fit-cpu")
    assert code == 3 and out == ""
    err = capsys.readouterr().err
    assert "IndexError: a bug in a rule" in err and "the suite itself failed" in err
