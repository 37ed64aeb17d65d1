"""The suite's parts apart from the validator: catalogue, deviations, report, adapter loading,
and the rule that an unsupported case is never passed."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from loophooks.conformance import (
    CAPABILITIES,
    FEATURES,
    AdapterError,
    CaseResult,
    Deviations,
    Report,
    catalogue,
    load_adapter,
    load_deviations,
    needs,
    run_case,
)
from loophooks.conformance._catalogue import COMBINED, select
from loophooks.spec import Resume, Scenario, expected_calls

# --- catalogue ---------------------------------------------------------------------------------


def test_every_feature_and_combination_runs_on_every_device() -> None:
    cases = catalogue()
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids))
    assert len(cases) == 2 * (len(FEATURES) + len(COMBINED))
    for feature in FEATURES:
        assert f"{feature.name}-cpu" in ids and f"{feature.name}-cuda" in ids


def test_every_case_is_a_scenario_the_spec_defines() -> None:
    for case in catalogue(["cpu"]):
        assert expected_calls(case.scenario), case.id


def test_needs_are_read_off_the_settings() -> None:
    assert needs(Scenario(fn="test")) == {"test"}
    assert needs(Scenario(accumulate_grad_batches=2)) == {"fit", "sanity_check", "accumulation"}
    assert needs(Scenario(num_sanity_val_steps=0, resume=Resume(0, 1))) == {"fit", "checkpoint_resume", "mid_epoch_resume"}
    assert needs(Scenario(fn="predict", device="cuda", precision="bf16-mixed")) == {"predict", "cuda", "bf16-mixed"}
    assert needs(Scenario(fn="test", test_batches=(2, 0))) == {"test", "multiple_eval_loaders", "zero_length_loaders"}
    for case in catalogue():
        assert case.needs <= CAPABILITIES, case.id


def test_required_cases_need_only_core_capabilities() -> None:
    by_id = {c.id: c for c in catalogue()}
    assert by_id["fit-cpu"].required
    assert by_id["predict-cpu"].required
    assert not by_id["fit-cuda"].required
    assert not by_id["accumulate-cpu"].required


def test_select_by_substring_or_glob() -> None:
    cases = catalogue(["cpu"])
    assert [c.id for c in select(cases, "resume-mid")] == [
        "resume-mid-epoch-cpu",
        "accumulate+resume-mid-epoch-cpu",
        "manual+resume-mid-epoch-cpu",
        "callbacks+resume-mid-epoch-cpu",
    ]
    assert [c.id for c in select(cases, "resume-mid*")] == ["resume-mid-epoch-cpu"]
    assert [c.id for c in select(cases, "test*")] == ["test-cpu", "test-two-loaders-cpu"]
    assert select(cases, None) == cases


def test_an_unknown_device_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        catalogue(["tpu"])


# --- deviations --------------------------------------------------------------------------------


def test_deviations_file_in_list_and_mapping_forms(tmp_path: Path) -> None:
    listed = tmp_path / "d.json"
    listed.write_text(json.dumps({"deviations": [{"id": "resume-*", "reason": "late", "levels": ["strict"]}]}))
    deviations = load_deviations(listed)
    found = deviations.find("resume-mid-epoch-cpu", "strict")
    assert found is not None and found.reason == "late" and found.source == str(listed)
    assert deviations.find("resume-mid-epoch-cpu", "core") is None
    assert deviations.find("fit-cpu", "strict") is None
    mapping = tmp_path / "m.json"
    mapping.write_text(json.dumps({"deviations": {"fit-cpu": "why"}}))
    assert load_deviations(mapping).find("fit-cpu", "core") is not None


def test_deviations_file_in_toml(tmp_path: Path) -> None:
    if sys.version_info < (3, 11):
        pytest.importorskip("tomli")
    path = tmp_path / "d.toml"
    path.write_text('[[deviations]]\nid = "fault-*"\nreason = "re-raises a wrapper"\n')
    assert load_deviations(path).find("fault-cpu", "strict") is not None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[]", 'expected an object with a "deviations" list'),
        ('{"deviations": [{"id": "x"}]}', 'entry 0 (x): "reason" must say why'),
        ('{"deviations": [{"id": "x", "reason": "r", "level": "strict"}]}', "unknown keys ['level']"),
        ('{"deviations": [{"id": "x", "reason": "r", "levels": ["loose"]}]}', '"levels" must be a list drawn from'),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_deviations_files_name_the_entry(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="deviations file .*bad.json") as info:
        load_deviations(path)
    assert message in str(info.value)


def test_unused_deviations_are_found(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"deviations": {"fit-cpu": "a", "no-such-case": "b"}}))
    unused = load_deviations(path).unused([c.id for c in catalogue()], "strict")
    assert [d.id for d in unused] == ["no-such-case"]


# --- report ------------------------------------------------------------------------------------


def _report() -> Report:
    return Report(
        adapter="x",
        capabilities=("fit", "test"),
        device="cpu",
        level="strict",
        spec_version="1.0",
        results=(
            CaseResult("fit-cpu", "passed", True, "", 0.5),
            CaseResult("test-cpu", "failed", True, "call 3: missing call: on_test_start\n  diff", 0.1),
            CaseResult("accumulate-cpu", "unsupported", False, "unsupported: needs accumulation"),
            CaseResult("resume-cpu", "deviation", False, "saves late\ncall 9: ..."),
        ),
    )


def test_report_json_round_trip() -> None:
    report = _report()
    text = report.dumps()
    again = Report.loads(text)
    assert again == report
    doc = json.loads(text)
    assert doc["ok"] is False
    assert doc["totals"] == {"passed": 1, "failed": 1, "deviation": 1, "xpassed": 0, "unsupported": 1}


def test_report_refuses_another_schema() -> None:
    with pytest.raises(ValueError, match="expected schema 'loophooks.report/1'"):
        Report.from_json({"schema": "other"})


def test_report_table_lists_cases_totals_and_failures() -> None:
    table = _report().table()
    assert "\n* test-cpu        failed       call 3: missing call: on_test_start\n" in table
    assert "\n  accumulate-cpu  unsupported  unsupported: needs accumulation\n" in table
    assert "1 passed, 1 failed, 1 deviation, 1 unsupported (4 cases)" in table
    assert "=== test-cpu: failed\ncall 3: missing call: on_test_start\n  diff" in table
    assert table.endswith("DOES NOT CONFORM: 1 case(s) failed")


def test_what_counts_as_a_failure() -> None:
    assert CaseResult("a", "failed").counts_as_failure
    assert CaseResult("a", "xpassed").counts_as_failure
    assert CaseResult("a", "unsupported", required=True).counts_as_failure
    assert not CaseResult("a", "unsupported", required=False).counts_as_failure
    assert not CaseResult("a", "deviation").counts_as_failure


# --- adapters ----------------------------------------------------------------------------------


class _Bare:
    """An adapter that supports nothing: every case must come out unsupported, none passed."""

    name = "bare"
    capabilities: frozenset[str] = frozenset()
    module_base = object
    callback_base = object
    datamodule_base: type[Any] | None = None

    def run(self, fn: Any, model: Any, **kwargs: Any) -> Any:
        raise AssertionError("an unsupported case must not run")


def make_bare() -> _Bare:
    return _Bare()


def test_unsupported_is_never_passed() -> None:
    results = [run_case(case, _Bare(), deviations=Deviations()) for case in catalogue()]
    assert {r.outcome for r in results} == {"unsupported"}
    assert all(r.message.startswith("unsupported: needs ") for r in results)
    required = [r for r in results if r.required]
    assert required and all(r.counts_as_failure for r in required)


def test_load_adapter_by_module_path() -> None:
    adapter = load_adapter(f"{__name__}:make_bare")
    assert adapter.name == "bare"
    assert load_adapter(f"{__name__}:_Bare").name == "bare"


def test_load_adapter_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPHOOKS_ADAPTER", f"{__name__}:make_bare")
    assert load_adapter().name == "bare"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nonsense", "expected a built-in name (engine, lightning) or 'package.module:factory'"),
        ("no_such_module_xyz:f", "cannot import 'no_such_module_xyz'"),
        (f"{__name__}:missing", "has no attribute 'missing'"),
        (f"{__name__}:_Bare.run.__code__", "code lacks name, capabilities"),
        ("json:dumps", "calling"),
        ("os:sep", "str lacks"),
        (f"{__name__}:__import__('os')", "is not a dotted attribute name"),
    ],
)
def test_load_adapter_errors_name_the_target(target: str, message: str) -> None:
    with pytest.raises(AdapterError, match="adapter ") as info:
        load_adapter(target)
    assert message in str(info.value)


class _Unknown(_Bare):
    capabilities = frozenset({"fit", "teleport"})


def test_unknown_capabilities_are_refused() -> None:
    with pytest.raises(AdapterError, match=r"unknown capabilities \['teleport'\]"):
        load_adapter(f"{__name__}:_Unknown")


# --- the plugin's parametrization ------------------------------------------------------------


def test_plugin_marks_unsupported_as_skip_and_deviations_as_strict_xfail(tmp_path: Path) -> None:
    from loophooks.conformance._plugin import SuiteConfig, _param

    path = tmp_path / "d.json"
    path.write_text(json.dumps({"deviations": {"fit-cpu": "known"}}))
    suite = SuiteConfig(_Bare(), "bare", ("cpu",), "strict", load_deviations(path), str(path))
    by_id = {c.id: c for c in catalogue(["cpu", "cuda"])}

    def marks(case_id: str) -> dict[str, Any]:
        return {m.name: m for m in _param(by_id[case_id], suite).marks}

    # optional and unsupported: skipped with the reason
    skip = marks("accumulate-cpu")["skip"]
    assert skip.kwargs["reason"] == "unsupported: needs accumulation, fit, sanity_check"
    # required and unsupported: not skipped, so the test fails
    assert "skip" not in marks("predict-cpu")
    # declared: strict xfail with the reason
    xfail = marks("fit-cpu")["xfail"]
    assert xfail.kwargs == {"strict": True, "reason": "deviation: known"}
    assert "cuda" in marks("fit-cuda")
    assert suite.header()[2] == f"loophooks deviations: {path} (1 declared)"


def test_every_public_name_resolves() -> None:
    import loophooks.conformance as conformance

    for name in conformance.__all__:
        assert getattr(conformance, name) is not None, name
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        conformance.nothing  # noqa: B018


def test_loading_the_plugin_loads_none_of_the_suite() -> None:
    # pytest loads the plugin in every session where loophooks is installed; the suite's
    # modules (and the trainers they import) wait until a session asks for the suite
    import subprocess

    suite = ["loophooks.conformance._runner", "loophooks.conformance._recorder", "loophooks.conformance._validator"]
    code = f"import sys, loophooks.conformance._plugin; print([m for m in {suite!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_combining_features_that_disagree_is_refused() -> None:
    from loophooks.conformance._catalogue import _merge

    by_name = {f.name: f for f in FEATURES}
    with pytest.raises(ValueError, match=r"catalogue: zero-val sets val_batches=\(0,\) and two-val-loaders sets \(2, 3\)"):
        _merge([by_name["zero-val"], by_name["two-val-loaders"]])
