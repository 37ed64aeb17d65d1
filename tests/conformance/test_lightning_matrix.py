"""docs/LIGHTNING-COMPATIBILITY.md is generated from docs/lightning-compatibility.json, and regenerates identically.

``scripts/lightning-matrix`` runs the suite against each pytorch-lightning 2 release (it
downloads them, so it is not run here); these tests check what it committed.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def matrix() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lightning_matrix", ROOT / "scripts" / "lightning_matrix.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_page_regenerates_identically_from_its_json(matrix: ModuleType) -> None:
    data = json.loads((ROOT / "docs" / "lightning-compatibility.json").read_text(encoding="utf-8"))
    page = (ROOT / "docs" / "LIGHTNING-COMPATIBILITY.md").read_text(encoding="utf-8")
    assert matrix.render(data) == page


def test_the_json_covers_every_release_at_both_levels(matrix: ModuleType) -> None:
    data = json.loads((ROOT / "docs" / "lightning-compatibility.json").read_text(encoding="utf-8"))
    assert data["schema"] == matrix.SCHEMA
    assert data["versions"] == list(matrix.VERSIONS)
    runs = {(r["version"], r["level"]) for r in data["runs"]}
    assert runs == {(v, level) for v in matrix.VERSIONS for level in matrix.LEVELS}
    for run in data["runs"]:
        # the totals are the outcomes' counts: nothing in the page is typed by hand
        counted = {o: 0 for o in run["totals"]}
        for result in run["results"].values():
            counted[result["outcome"]] += 1
        assert counted == run["totals"], (run["version"], run["level"])
        for case, result in run["results"].items():
            assert (result["outcome"] in ("passed", "unsupported")) == (result["first"] == ""), case


def test_the_page_states_every_difference(matrix: ModuleType) -> None:
    data = json.loads((ROOT / "docs" / "lightning-compatibility.json").read_text(encoding="utf-8"))
    page = (ROOT / "docs" / "LIGHTNING-COMPATIBILITY.md").read_text(encoding="utf-8")
    assert f"Generated {data['generated']}" in page
    for run in data["runs"]:
        for case, result in run["results"].items():
            if result["outcome"] not in ("passed", "unsupported"):
                assert f"- `{case}` ({run['level']}, {result['outcome']}): {result['first']}" in page


def test_a_changed_result_changes_the_page(matrix: ModuleType) -> None:
    data = json.loads((ROOT / "docs" / "lightning-compatibility.json").read_text(encoding="utf-8"))
    before = matrix.render(data)
    run = next(r for r in data["runs"] if r["version"] == data["versions"][-1] and r["level"] == "strict")
    case = next(iter(run["results"]))
    run["results"][case] = {"outcome": "failed", "first": "call 3: missing call: setup (expected before x)"}
    after = matrix.render(data)
    assert after != before
    assert f"- `{case}` (strict, failed): call 3: missing call: setup (expected before x)" in after
    with pytest.raises(ValueError, match="expected schema"):
        matrix.render({**data, "schema": "other"})


def test_explanations_match_by_release_case_and_divergence(matrix: ModuleType) -> None:
    why = matrix.explain("2.5.6", "skip-epoch+lr-epoch-cpu", "call 67: missing call: lr_scheduler_step (...)")
    assert why is not None and "#21296" in why[1]
    assert matrix.explain("2.6.6", "skip-epoch+lr-epoch-cpu", "call 67: missing call: lr_scheduler_step") is None
    assert matrix.explain("2.5.6", "fit-cpu", "call 67: missing call: lr_scheduler_step") is None


def test_the_adapter_maps_the_old_configure_model_name_before_2_1() -> None:
    # what the adapter does for 2.0, without installing it: a LightningModule of 2.0's shape
    from types import SimpleNamespace

    from loophooks.conformance.adapters.lightning import LightningAdapter, _module_base

    calls: list[str] = []

    class OldModule:  # 2.0 calls configure_sharded_model; it has no configure_model
        def configure_sharded_model(self) -> None:
            calls.append("base configure_sharded_model")

    old = SimpleNamespace(LightningModule=OldModule, __version__="2.0.9.post0")
    base = _module_base(old)
    assert issubclass(base, OldModule) and base is not OldModule

    class Model(base):  # type: ignore[misc,valid-type]
        def configure_model(self) -> None:
            calls.append("model configure_model")

    Model().configure_sharded_model()  # what Lightning 2.0 calls
    assert calls == ["model configure_model"]

    new = SimpleNamespace(LightningModule=OldModule, __version__="2.1.4")
    assert _module_base(new) is OldModule
    adapter = LightningAdapter()
    adapter._pl = old
    assert adapter.module_base is adapter.module_base  # one class: the recorder compares identities
    assert adapter.notes and "configure_sharded_model" in adapter.notes[0]
    adapter = LightningAdapter()
    adapter._pl = new
    assert adapter.notes == ()
