"""``loophooks check --trace-dir`` and ``--html``, on one run of a trainer that fails some cases.

The trainer is the example adapter's ``make_twice_ending_adapter``: its base class
announces the end of every training epoch at its start, so every fit diverges from
the spec at that call; validate/test/predict cases pass, CUDA cases are
unsupported on a machine without a GPU, and one case is declared a deviation. One
CLI run writes the JSON report, the trace folder and the HTML page that every test
here reads.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from loophooks.conformance import Report, catalogue
from loophooks.conformance._cli import main
from loophooks.conformance._html import bands
from loophooks.conformance._normalize import load_trace
from loophooks.conformance._traces import render_text, replay
from loophooks.spec import Call

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PATTERN = "[bfzp]*"  # bf16 (unsupported: the example lacks it), fit*, fault, zero-*, predict*
DECLARED = "fit-no-sanity-cpu"


@dataclass(frozen=True)
class Outputs:
    code: int
    table: str
    report: Report
    json_path: Path
    trace_dir: Path
    html: Path


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Outputs:
    import sys

    root = tmp_path_factory.mktemp("outputs")
    deviations = root / "deviations.json"
    deviations.write_text(json.dumps({"deviations": {DECLARED: "known: ends epochs early"}}))
    (root / "reports").mkdir()
    argv = [
        "check", "--adapter", "example_adapter:make_twice_ending_adapter", "--device", "all", "-k", PATTERN,
        "--deviations", str(deviations), "--json", str(root / "reports" / "report.json"),
        "--trace-dir", str(root / "traces"), "--html", str(root / "reports" / "report.html"),
    ]
    sys.path.insert(0, str(FIXTURES))
    saved = os.environ.pop("LOOPHOOKS_ADAPTER", None)
    try:
        out = io.StringIO()
        code = main(argv, out=out)
    finally:
        sys.path.remove(str(FIXTURES))
        if saved is not None:
            os.environ["LOOPHOOKS_ADAPTER"] = saved
    path = root / "reports" / "report.json"
    return Outputs(code, out.getvalue(), Report.loads(path.read_text()), path, root / "traces", root / "reports" / "report.html")


def test_the_run_has_every_kind_of_outcome(outputs: Outputs) -> None:
    totals = outputs.report.totals()
    assert outputs.code == 1
    assert totals["passed"] and totals["failed"] and totals["unsupported"] and totals["deviation"] == 1


# --- --trace-dir ----------------------------------------------------------------------------------


def test_every_case_has_its_files_linked_from_the_json_report(outputs: Outputs) -> None:
    selected = [c.id for c in catalogue() if __import__("fnmatch").fnmatchcase(c.id, PATTERN)]
    assert [r.id for r in outputs.report.results] == selected
    doc = json.loads(outputs.json_path.read_text())
    assert doc["extra"]["trace_dir"] == str(outputs.trace_dir)
    for result in outputs.report.results:
        links = result.traces
        want = {"expected", "expected_text"} | ({"actual", "actual_text"} if result.ran else set())
        assert set(links) == want, result.id
        for link in links.values():
            # relative to the report's folder, so the two can be moved together
            assert not Path(link).is_absolute()
            assert (outputs.json_path.parent / link).is_file(), link
        expected = load_trace((outputs.json_path.parent / links["expected"]).read_text())
        text = (outputs.json_path.parent / links["expected_text"]).read_text()
        assert text == render_text(expected) and len(text.splitlines()) == len(expected)


def test_the_trace_files_replay_to_the_same_verdict(outputs: Outputs) -> None:
    ran = [r for r in outputs.report.results if r.ran]
    assert ran
    for result in ran:
        verdict = replay(outputs.json_path.parent / result.traces["actual"])
        if result.outcome == "passed":
            assert verdict.ok, f"{result.id}: {verdict.message}"
        elif result.outcome == "failed":
            assert verdict.message == result.message, result.id
        else:  # a deviation: the declared reason, then the verdict
            assert result.outcome == "deviation"
            assert result.message == f"known: ends epochs early\n{verdict.message}"
    # and the same trace judged at the other level reaches that level's verdict
    fit = next(r for r in ran if r.id == "fit-cpu")
    core = replay(outputs.json_path.parent / fit.traces["actual"], level="core")
    assert core.level == "core" and not core.ok


def test_a_replay_sees_an_edited_trace(outputs: Outputs, tmp_path: Path) -> None:
    # the files are the evidence: restore the call the trainer added and the case passes
    result = next(r for r in outputs.report.results if r.id == "predict-cpu")
    src = outputs.json_path.parent / result.traces["actual"]
    doc = json.loads(src.read_text())
    del doc["calls"][5]
    shutil.copy(outputs.json_path.parent / result.traces["expected"], tmp_path / Path(result.traces["expected"]).name)
    (tmp_path / src.name).write_text(json.dumps(doc))
    verdict = replay(tmp_path / src.name)
    assert not verdict.ok and verdict.problems[0].startswith("call 5: ")


def test_the_text_files_are_aligned_columns(outputs: Outputs) -> None:
    result = next(r for r in outputs.report.results if r.id == "fit-cpu")
    lines = (outputs.json_path.parent / result.traces["actual_text"]).read_text().splitlines()
    calls = load_trace((outputs.json_path.parent / result.traces["actual"]).read_text())
    assert len(lines) == len(calls)
    # every column starts at the same offset on every line
    starts = {line.index(call.hook, len(call.target)) for line, call in zip(lines, calls)}
    assert len(starts) == 1
    assert lines[42].split()[:5] == ["module", "on_train_epoch_end", "train", "enabled", "-"]


# --- bands ------------------------------------------------------------------------------------------


def _kinds(band: Any, depth: int = 0) -> list[tuple[int, str, str]]:
    out = []
    for item in band.items:
        if not isinstance(item, int):
            out.append((depth, item.kind, item.label))
            out += _kinds(item, depth + 1)
    return out


def test_bands_nest_runs_epochs_batches_validation_and_checkpoints() -> None:
    c = Call
    calls = [
        c("setup", args={"stage": "fit"}),
        c("on_sanity_check_start", "callback"), c("on_validation_start"), c("on_validation_end"),
        c("on_sanity_check_end", "callback"),
        c("on_train_epoch_start", "callback"), c("on_train_epoch_start"),
        c("on_train_batch_start", args={"batch_idx": 0}), c("on_train_batch_end", args={"batch_idx": 0}),
        c("on_train_batch_start", args={"batch_idx": 1}),  # returned -1: no end
        c("on_validation_start"),
        c("on_validation_batch_start", args={"batch_idx": 0, "dataloader_idx": 1}), c("on_validation_batch_end"),
        c("on_validation_end"),
        c("on_save_checkpoint", "callback"), c("on_save_checkpoint"),
        c("on_train_epoch_end", "callback"), c("on_train_epoch_end"),
        c("teardown", "callback"), c("teardown"),
        c("setup", args={"stage": "fit"}),
    ]
    assert _kinds(bands(calls)) == [
        (0, "run", "run 1"),
        (1, "sanity", "sanity check"),
        (2, "validation", "validation run"),
        (1, "epoch", "train epoch #1"),
        (2, "batch", "batch 0"),
        (2, "batch", "batch 1"),
        (2, "validation", "validation run"),
        (3, "eval-batch", "batch 0, loader 1"),
        (2, "checkpoint", "checkpoint save"),
        (0, "run", "run 2"),
    ]

    def indices(band: Any) -> list[int]:
        return [i for item in band.items for i in ([item] if isinstance(item, int) else indices(item))]

    assert indices(bands(calls)) == list(range(len(calls)))  # every call once, in order


def test_bands_take_any_trace() -> None:
    import random

    from loophooks.conformance._html import _CHECKPOINT, _CLOSE, _OPEN

    hooks = sorted({*_OPEN, *_CLOSE, *_CHECKPOINT, "training_step", "setup"})
    rng = random.Random(0)
    for _ in range(300):
        calls = [Call(rng.choice(hooks), rng.choice(["module", "callback"])) for _ in range(rng.randint(0, 30))]
        flat: list[int] = []

        def walk(band: Any) -> None:
            for item in band.items:
                flat.append(item) if isinstance(item, int) else walk(item)

        walk(bands(calls))
        assert flat == list(range(len(calls)))


# --- --html in a real browser -------------------------------------------------------------------------

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and Path(p).exists()), None)


@pytest.fixture(scope="module")
def page(outputs: Outputs) -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the browser test needs the 'playwright' package (pip install playwright; it is in the dev extra)")
    if CHROMIUM is None:
        pytest.skip("the browser test needs Debian's chromium at /usr/bin/chromium (scripts/install-browser)")
    with sync_playwright() as driver:
        try:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        except Exception as error:  # a browser that is there but cannot start here (missing libraries)
            pytest.skip(f"the browser test could not start {CHROMIUM}: {str(error).splitlines()[0]}")
        tab = browser.new_page(viewport={"width": 1400, "height": 900})
        problems: list[str] = []
        tab.on("console", lambda m: problems.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        tab.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        # nothing may be fetched: the page must be whole by itself
        tab.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort())
        requests: list[str] = []
        tab.on("request", lambda r: requests.append(r.url))
        tab.goto(outputs.html.as_uri())
        tab.wait_for_load_state("load")
        tab.problems = problems  # type: ignore[attr-defined]
        tab.requests = requests  # type: ignore[attr-defined]
        yield tab
        browser.close()


def _visible_rows(page: Any, outcome: str | None = None) -> int:
    selector = "#matrix tr.row" + (f'[data-outcome="{outcome}"]' if outcome else "")
    return int(page.eval_on_selector_all(selector, "rows => rows.filter(r => r.offsetParent !== null).length"))


def test_the_page_renders_without_errors_or_network(page: Any, outputs: Outputs) -> None:
    assert page.problems == []
    assert page.requests == [outputs.html.as_uri()]
    assert page.title() == "loophooks conformance: example"
    assert page.inner_text("#status") == "DOES NOT CONFORM"


def test_the_matrix_counts_match_the_json(page: Any, outputs: Outputs) -> None:
    totals = outputs.report.totals()
    for outcome, count in totals.items():
        assert page.inner_text(f'.count[data-outcome="{outcome}"]') == str(count)
        assert _visible_rows(page, outcome) == count
        marked = page.eval_on_selector_all(f"#matrix td.o.{outcome}", "cells => cells.filter(c => c.textContent).length")
        assert marked == count
    assert _visible_rows(page) == len(outputs.report.results)
    required = page.eval_on_selector_all('#matrix tr.row[data-required="true"]', "rows => rows.map(r => r.dataset.case)")
    assert required == [r.id for r in outputs.report.results if r.required]
    assert page.inner_text("#shown") == f"{len(outputs.report.results)} of {len(outputs.report.results)} cases shown"


def test_filtering_the_matrix(page: Any, outputs: Outputs) -> None:
    results = outputs.report.results
    try:
        page.uncheck('.outcome-filter[value="passed"]')
        page.uncheck('.outcome-filter[value="unsupported"]')
        assert _visible_rows(page) == sum(r.outcome not in ("passed", "unsupported") for r in results)
        assert _visible_rows(page, "passed") == 0
        page.check('.outcome-filter[value="passed"]')
        page.fill("#id-filter", "fit-no")
        shown = page.eval_on_selector_all("#matrix tr.row", "rs => rs.filter(r => r.offsetParent !== null).map(r => r.dataset.case)")
        assert shown == [r.id for r in results if "fit-no" in r.id and r.outcome != "unsupported"]
        # a failed case filtered out of the matrix leaves the timelines too
        assert not page.is_visible("#case-fit-cpu")
        page.fill("#id-filter", "")
        page.check("#required-only")
        assert _visible_rows(page) == sum(r.required and r.outcome != "unsupported" for r in results)
    finally:
        page.uncheck("#required-only")
        page.check('.outcome-filter[value="unsupported"]')
        page.fill("#id-filter", "")
    assert _visible_rows(page) == len(results)


def test_the_first_divergence_of_a_failing_case_is_visible(page: Any, outputs: Outputs) -> None:
    page.click('#matrix a[href="#case-fit-cpu"]')
    for side in ("expected", "actual"):
        mark = page.locator(f"#div-fit-cpu-{side}")
        assert mark.is_visible()
        assert mark.get_attribute("data-index") == "42"
        # scrolled into its timeline's box, and the box into the window
        inside = page.evaluate(
            """id => { const m = document.getElementById(id), box = m.closest('.scroll');
                const a = m.getBoundingClientRect(), b = box.getBoundingClientRect();
                return a.top >= b.top && a.bottom <= b.bottom && b.top < window.innerHeight && b.bottom > 0; }""",
            f"div-fit-cpu-{side}",
        )
        assert inside, side
    assert "on_train_epoch_end" in page.inner_text("#div-fit-cpu-actual")
    assert "on_before_batch_transfer" in page.inner_text("#div-fit-cpu-expected")
    assert "unexpected call: on_train_epoch_end" in page.inner_text("#case-fit-cpu .where")
    # the call's arguments, mode, grad state and device on hover
    page.hover("#case-fit-cpu .timeline:nth-child(2) .call[data-index='47']")
    tip = page.inner_text("#hover")
    assert page.is_visible("#hover")
    assert "#47 on_train_batch_start" in tip and "mode: train" in tip and "grad: enabled" in tip
    assert "batch_idx = 0" in tip and "batch = {'shape': [2, 4]}" in tip and "device: cpu" in tip
    # the bands: the failing call sits in the first training epoch of the first run
    band = page.evaluate(
        "() => Array.from(document.querySelectorAll('#div-fit-cpu-expected')).map(m => m.closest('.band-epoch').querySelector('.band-label').textContent)[0]"
    )
    assert band == "train epoch #1"
    assert page.problems == []


def test_every_probe_survives_the_trace_file() -> None:
    # the validator's argument checks read probes; a replay must see the same ones
    import dataclasses
    import math
    import typing

    from loophooks.conformance import _validator
    from loophooks.conformance._traces import _probes_from_json, _probes_json

    samples: dict[type, object] = {int: 3, bool: True, float: 0.25, str: "layer: eval"}

    def sample(hint: object) -> object:
        origin = typing.get_origin(hint)
        if origin is tuple:
            return (samples[str],)
        if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
            return sample(typing.get_args(hint)[0])
        return samples[hint]  # type: ignore[index]

    hints = typing.get_type_hints(_validator.Probes)
    values: dict[str, object] = {"returned": [[1, 2], [3]], "returned_set": True}
    for f in dataclasses.fields(_validator.Probes):
        if typing.get_origin(hints[f.name]) is list:
            item = typing.get_args(hints[f.name])[0]
            item_hints = typing.get_type_hints(item)
            values[f.name] = [item(**{k: sample(h) for k, h in item_hints.items()})]
    probes = _validator.Probes(**values)  # type: ignore[arg-type]
    again = _probes_from_json(json.loads(json.dumps(_probes_json(probes))))
    for f in dataclasses.fields(_validator.Probes):
        if f.name != "returned":
            assert getattr(again, f.name) == getattr(probes, f.name), f.name
    assert [len(r) for r in again.returned] == [2, 1]
    nan = _validator.LossProbe(0, True, float("nan"), None)
    text = json.dumps(_probes_json(_validator.Probes(before_backward=[nan])), allow_nan=False)  # strict JSON
    assert math.isnan(_probes_from_json(json.loads(text)).before_backward[0].value)
