"""The core level against an independent trainer (``_mini_trainer.py``), written from ORDER.md.

Each planted bug must fail at ``--level core`` with a message that names the real
fault; the same trainer making choices the spec leaves free must pass every case it
supports. These are the bugs core used to miss (issue 14): the epoch ending before
its validation, no teardown, a sanity check one batch too long, zeroing or stepping
every batch under accumulation, swapped ``dataloader_idx``, gradients zeroed between
backward and the update, modes never restored, a frozen submodule unfrozen; and one
per further rule and probe (gradients missing, ``backward`` given the undivided
loss, an update in an accumulating batch, validation cadence, an extra epoch, a hook
after ``teardown``).
"""

from __future__ import annotations

import re

import pytest
from _mini_trainer import MiniAdapter

from loophooks.conformance import catalogue, judge, run_case, run_scenario
from loophooks.conformance._validator import Verdict

_CASES = {c.id: c for c in catalogue(["cpu"])}


def _verdict(adapter: MiniAdapter, case_id: str, level: str = "core") -> Verdict:
    case = _CASES[case_id]
    return judge(run_scenario(adapter, case.scenario), case.scenario, level)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("bug", "case_id", "pattern"),
    [
        (
            "epoch_end_before_val",
            "fit-no-sanity-cpu",
            r"containment: \[\d+\] on_validation_start outside any training epoch: on_train_epoch_end \[\d+\] "
            r"already closed the epoch",
        ),
        ("no_teardown", "fit-cpu", r"teardown: the fit run from setup \[\d+\] to \[\d+\] ended without calling teardown"),
        (
            "sanity_one_more",
            "two-val-loaders-cpu",
            r"validation-cadence: the sanity check \[\d+\] ran 2 batches of loader 0 \+ 3 batches of loader 1, "
            r"expected 2 batches of loader 0 \+ 2 batches of loader 1 \(num_sanity_val_steps=2",
        ),
        (
            "zero_every_batch",
            "accumulate-cpu",
            r"optimizer-cadence: epoch 0, batch 1 \[\d+\]: on_before_zero_grad ran 1 time\(s\), expected 0 "
            r"\(accumulate_grad_batches=2: the spec runs it in batches 0, 2, 4 ",
        ),
        (
            "step_every_batch",
            "accumulate-cpu",
            r"optimizer-cadence: epoch 0, batch 0 \[\d+\]: optimizer_step ran 1 time\(s\), expected 0 "
            r"\(accumulate_grad_batches=2: the spec runs it in batches 1, 3, 4 ",
        ),
        (
            "swap_loader_idx",
            "two-val-loaders-cpu",
            r"loader-source: \[\d+\] on_validation_batch_start\(dataloader_idx=1\) received a batch of validation loader 0",
        ),
        (
            "zero_before_step",
            "fit-no-sanity-cpu",
            r"effects: epoch 0, batch 0: the parameters did not change across the optimizer step",
        ),
        (
            "no_mode_restore",
            "restore-modes-test-cpu",
            r"modes: after test\(\) returned, expected the modes from before it: the model: eval",
        ),
        ("unfreeze", "restore-modes-cpu", r"modes: training_step \(epoch 0, batch 0\): frozen: train"),
        ("unfreeze", "restore-modes-test-cpu", r"modes: after test\(\) returned.*frozen: train"),
        (
            "grads_dropped",
            "fit-no-sanity-cpu",
            r"effects: epoch 0, batch 0: 2 trainable parameter\(s\) had no gradient at on_before_optimizer_step",
        ),
        (
            "backward_undivided",
            "accumulate-cpu",
            r"backward #0: loss \S+ is training_step's loss undivided; expected it divided by accumulate_grad_batches=2",
        ),
        (
            "step_while_accumulating",
            "accumulate-cpu",
            r"effects: epoch 0, batch 0: the parameters changed in a batch without an optimizer step",
        ),
        (
            "ignore_val_check_interval",
            "val-check-interval-cpu",
            r"validation-cadence: epoch 0 validated after batches: 3, expected after: 1, 3 \(val_check_interval=2",
        ),
        (
            "extra_epoch",
            "fit-cpu",
            r"epochs: the fit run from \[0\] ran 3 training epoch\(s\), expected 2 \(.*max_epochs=2",
        ),
        (
            "teardown_before_fit_end",
            "fit-cpu",
            r"containment: \[\d+\] callback\.on_fit_end after the module's teardown \[\d+\]",
        ),
    ],
)
def test_a_planted_bug_fails_core_naming_it(bug: str, case_id: str, pattern: str) -> None:
    clean = _verdict(MiniAdapter(), case_id)
    assert clean.ok, f"the unbroken mini trainer fails {case_id}: {clean.message}"
    verdict = _verdict(MiniAdapter(bugs=[bug]), case_id)
    assert not verdict.ok, f"core passed the {bug} trainer on {case_id}"
    assert re.search(pattern, verdict.message), verdict.message


_FREE = ("zero_first", "lazy_val_loader", "keyword_callbacks")


def test_a_legitimately_different_trainer_passes_core_everywhere_it_runs() -> None:
    adapter = MiniAdapter(variants=_FREE)
    results = [run_case(case, adapter, level="core") for case in _CASES.values()]
    failed = [f"{r.id}: {r.message}" for r in results if r.outcome == "failed"]
    assert not failed, "\n".join(failed)
    ran = [r.id for r in results if r.outcome == "passed"]
    assert {"fit-cpu", "accumulate-cpu", "two-val-loaders-cpu", "restore-modes-cpu", "validate-cpu"} <= set(ran)


@pytest.mark.parametrize(
    ("variant", "case_id", "strict_says"),
    [
        ("zero_first", "fit-no-sanity-cpu", "on_before_zero_grad"),
        ("lazy_val_loader", "fit-no-sanity-cpu", "val_dataloader"),
    ],
)
def test_the_free_choices_are_real_differences(variant: str, case_id: str, strict_says: str) -> None:
    # strict sees each choice, so the core pass above is not the trace happening to match
    strict = _verdict(MiniAdapter(variants=[variant]), case_id, "strict")
    assert not strict.ok and strict_says in strict.problems[0], strict.message
    assert _verdict(MiniAdapter(variants=[variant]), case_id).ok
