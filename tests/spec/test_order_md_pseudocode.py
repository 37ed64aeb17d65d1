"""ORDER.md's pseudocode and ``expected_calls`` say the same order where they overlap.

Each pseudocode block of ORDER.md is read as the hooks it names, in the order it
names them (``event(x)``, ``cb.x()``, ``dm.x()``, ``data.x()``, ``transfer(...)``
expanded). For a scenario that runs the block, the hooks that also appear in the
spec's expected calls must appear there in the same order (a subsequence). The
prose can then not drift from the code without a test failing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from loophooks.spec import CALLBACK_HOOKS, DATAMODULE_HOOKS, HOOKS, Resume, Scenario, expected_calls

ORDER_MD = Path(__file__).resolve().parents[2] / "spec" / "ORDER.md"
_KNOWN = set(HOOKS) | set(CALLBACK_HOOKS) | set(DATAMODULE_HOOKS)
_TRANSFER = ["on_before_batch_transfer", "transfer_batch_to_device", "on_after_batch_transfer"]
_CALL = re.compile(r"(?:\b(?:cb|dm|data)\.)?\b([a-z_]+)\(([a-z_]*)")


def _blocks() -> list[str]:
    return re.findall(r"```\n(.*?)```", ORDER_MD.read_text(encoding="utf-8"), flags=re.S)


def _block(first_line: str) -> str:
    found = [b for b in _blocks() if b.splitlines()[0].startswith(first_line)]
    assert len(found) == 1, f"ORDER.md has {len(found)} pseudocode blocks starting with {first_line!r}"
    return found[0]


def hooks_named(block: str, stage: str | None = None) -> list[str]:
    """The hooks ``block`` names, in order; ``x`` placeholders read as ``stage``."""
    out: list[str] = []
    for line in block.splitlines():
        code = line.split("#", 1)[0]
        if stage is not None:
            code = re.sub(r"\bx_", f"{stage}_", code).replace("_x_", f"_{stage}_")
        for name, first_arg in _CALL.findall(code):
            if name == "event":
                name = first_arg
            if name == "transfer":
                out += _TRANSFER
            elif name in _KNOWN:
                out.append(name)
    return out


def in_same_order(named: list[str], calls: list[str]) -> bool:
    """Whether the hooks of ``named`` that occur in ``calls`` occur there in that order, within
    one pass of the block: from the first call of its first hook to that hook's next call."""
    wanted = [h for h in named if h in set(calls)]
    if not wanted:
        return True
    start = calls.index(wanted[0])
    end = len(calls)
    if wanted.count(wanted[0]) == 1 and wanted[0] in calls[start + 1 :]:
        end = calls.index(wanted[0], start + 1)
    it = iter(calls[start:end])
    return all(any(h == c for c in it) for h in wanted)


_NO_SANITY = Scenario(num_sanity_val_steps=0, train_batches=2)

BLOCKS = [
    ("configure_callbacks()", None, Scenario(datamodule=True)),
    ("FIT:", None, _NO_SANITY),
    ("TRAINING BATCH:", None, _NO_SANITY.with_(train_batches=1)),
    ("OPTIMIZATION (automatic):", None, _NO_SANITY.with_(gradient_clip_val=1.0, train_batches=1)),
    ("SCHEDULERS:", None, _NO_SANITY.with_(lr_scheduler="step")),
    ("VALIDATION(sanity=False):", None, _NO_SANITY.with_(train_batches=1)),
    ("VALIDATE | TEST", "validation", Scenario(fn="validate")),
    ("VALIDATE | TEST", "test", Scenario(fn="test")),
    ("PREDICT:", None, Scenario(fn="predict")),
    ("for each callback: cb.state_dict()", None, Scenario(resume=Resume(0, None), datamodule=True)),
    ("on_load_checkpoint(checkpoint)", None, Scenario(resume=Resume(0, None), datamodule=True)),
]


@pytest.mark.parametrize(("first_line", "stage", "scenario"), BLOCKS, ids=[f"{b[0]}-{b[1]}" for b in BLOCKS])
def test_the_pseudocode_block_and_expected_calls_agree(first_line: str, stage: str | None, scenario: Scenario) -> None:
    named = hooks_named(_block(first_line), stage)
    calls = [c.hook for c in expected_calls(scenario)]
    overlap = [h for h in named if h in set(calls)]
    assert len(overlap) >= 2, f"{first_line!r}: the block and the scenario share too little to compare: {overlap}"
    assert in_same_order(named, calls), f"{first_line!r} names {overlap}; expected_calls has {calls}"


def test_the_comparison_can_fail() -> None:
    named = hooks_named(_block("OPTIMIZATION (automatic):"))
    calls = [c.hook for c in expected_calls(_NO_SANITY)]
    assert in_same_order(named, calls)
    # the order the OptimizationMethods docstring used to give: zeroing before training_step
    wrong = ["on_before_zero_grad", "optimizer_zero_grad", "training_step", "on_before_optimizer_step"]
    assert not in_same_order(wrong, calls)
