"""The whole catalogue against the two trainers loophooks ships adapters for.

The reference engine must conform outright; the real Lightning Trainer must
conform except for the spec's declared deviations (``conformance/adapters/
lightning_deviations.json``), which must show as deviations, not as passes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loophooks.conformance import check, load_adapter
from loophooks.conformance.adapters._registry import builtin_deviations


@pytest.mark.parametrize("level", ["strict", "core"])
def test_the_engine_conforms(level: str) -> None:
    report = check("engine", devices=["cpu"], level=level)  # type: ignore[arg-type]
    assert report.ok, report.table()
    assert report.totals()["passed"] == len(report.results)


@pytest.mark.lightning
def test_lightning_conforms_but_for_the_declared_deviations() -> None:
    pytest.importorskip("pytorch_lightning")
    report = check("lightning", devices=["cpu"])
    assert report.ok, report.table()
    deviations = {r.id for r in report.results if r.outcome == "deviation"}
    assert deviations == {"resume-last-batch-cpu", "resume-max-steps-cpu"}


@pytest.mark.lightning
def test_lightning_keeps_every_core_rule_on_every_case() -> None:
    # the core rules only state what Lightning itself does: no case may need a deviation at core
    pytest.importorskip("pytorch_lightning")
    report = check("lightning", devices=["cpu"], level="core")
    assert report.ok, report.table()
    assert report.totals()["passed"] == len(report.results)


def test_the_shipped_lightning_deviations_cite_the_spec() -> None:
    path = builtin_deviations("lightning")
    assert path is not None and path.name == "lightning_deviations.json"
    entries = json.loads(Path(path).read_text())["deviations"]
    assert all(e["reason"].startswith("ORDER.md deviation ") for e in entries)
    assert builtin_deviations("engine") is None
    assert builtin_deviations(load_adapter("lightning")) == path


def test_another_adapter_named_lightning_gets_no_shipped_deviations() -> None:
    class Impostor:
        name = "lightning"

    assert builtin_deviations(Impostor()) is None
