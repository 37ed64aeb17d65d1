"""The validator itself: diagnoses, diff format, semantic checks. Traces are the spec's own
expected calls, mutated the way a broken trainer would."""

from __future__ import annotations

from dataclasses import replace

import pytest

from loophooks.conformance import Probes, first_divergence, semantic_problems, validate
from loophooks.conformance._validator import LossProbe, OutputsProbe
from loophooks.spec import Call, Scenario, expected_calls

BASIC = Scenario(name="basic", train_batches=2)
TWO_VAL = Scenario(name="two-val", val_batches=(2, 3), num_sanity_val_steps=0)


def _index(calls: list[Call], hook: str, target: str = "module", nth: int = 0) -> int:
    found = [i for i, c in enumerate(calls) if c.hook == hook and c.target == target]
    return found[nth]


def test_the_spec_own_sequence_conforms() -> None:
    trace = expected_calls(BASIC)
    verdict = validate(trace, BASIC)
    assert verdict.ok, verdict.message
    assert verdict.message == "conforms"


def test_a_missing_call_is_named() -> None:
    trace = expected_calls(BASIC)
    i = _index(trace, "on_before_zero_grad")
    del trace[i]
    verdict = validate(trace, BASIC)
    assert not verdict.ok
    assert verdict.divergence is not None and verdict.divergence.index == i
    assert verdict.problems[0] == f"call {i}: missing call: on_before_zero_grad (expected before optimizer_zero_grad)"


def test_swapped_calls_are_named() -> None:
    trace = expected_calls(BASIC)
    i = _index(trace, "backward")
    trace[i], trace[i + 1] = trace[i + 1], trace[i]
    verdict = validate(trace, BASIC)
    assert verdict.problems[0] == f"call {i}: swapped: callback.on_after_backward came before backward"


def test_an_extra_call_is_named() -> None:
    trace = expected_calls(BASIC)
    i = _index(trace, "training_step")
    trace.insert(i, Call("on_before_zero_grad", "module", {"optimizer": {"optimizer": 0}}))
    verdict = validate(trace, BASIC)
    assert f"call {i}: unexpected call: on_before_zero_grad (before training_step)" == verdict.problems[0]


def test_a_wrong_argument_is_named_with_both_values() -> None:
    trace = expected_calls(BASIC)
    i = _index(trace, "on_train_batch_start", nth=1)
    trace[i] = replace(trace[i], args={**trace[i].args, "batch_idx": 5})
    verdict = validate(trace, BASIC)
    assert f"call {i}: on_train_batch_start: argument 'batch_idx': expected 1, got 5" == verdict.problems[0]


def test_mode_and_grad_state_differences_are_named() -> None:
    trace = expected_calls(BASIC)
    i = _index(trace, "validation_step")
    trace[i] = replace(trace[i], training=True, grad="enabled")
    problem = validate(trace, BASIC).problems[0]
    assert "model mode: expected eval, got train" in problem
    assert "autograd: expected no_grad, got enabled" in problem


def test_a_trace_that_stops_early_says_what_came_next() -> None:
    trace = expected_calls(BASIC)
    cut = _index(trace, "on_train_end", "callback")
    verdict = validate(trace[:cut], BASIC)
    assert verdict.problems[0] == (
        f"call {cut}: the trace ends early: expected callback.on_train_end next ({len(trace) - cut} expected calls missing)"
    )


def test_the_diff_shows_context_expected_and_actual_lines() -> None:
    expected = [Call(f"h{i}") for i in range(10)]
    actual = expected[:5] + [Call("zz")] + expected[6:]
    divergence = first_divergence(expected, actual, context=2)
    assert divergence is not None
    assert divergence.diff.splitlines() == [
        "       3  h3()",
        "       4  h4()",
        "  -    5  h5()",
        "  -    6  h6()",
        "  -    7  h7()",
        "  +    5  zz()",
        "  +    6  h6()",
        "  +    7  h7()",
    ]
    assert divergence.problem == "call 5: expected h5, got zz"
    assert str(divergence) == divergence.problem + "\n" + divergence.diff


def test_long_calls_are_cut_in_the_diff() -> None:
    expected = [Call("h", args={"x": "a" * 500})]
    divergence = first_divergence(expected, [Call("g")])
    assert divergence is not None
    assert all(len(line) < 130 for line in divergence.diff.splitlines())


def test_identical_sequences_have_no_divergence() -> None:
    calls = [Call("a"), Call("b")]
    assert first_divergence(calls, list(calls)) is None


def test_dataloader_idx_out_of_range_is_named() -> None:
    trace = expected_calls(TWO_VAL)
    i = _index(trace, "on_validation_batch_start", nth=3)
    trace[i] = replace(trace[i], args={**trace[i].args, "dataloader_idx": 2})
    problems = semantic_problems(trace, TWO_VAL)
    assert f"call {i}: on_validation_batch_start: dataloader_idx=2 out of range: there are 2 validation loader(s)" in problems


def test_batch_idx_must_restart_per_loader() -> None:
    trace = expected_calls(TWO_VAL)
    # the second loader continuing the first loader's count
    starts = [i for i, c in enumerate(trace) if c.hook == "on_validation_batch_start" and c.target == "module"]
    for n, i in enumerate(starts):
        trace[i] = replace(trace[i], args={**trace[i].args, "batch_idx": n})
    problems = semantic_problems(trace, TWO_VAL)
    assert any("batch_idx=2 but validation loader 1 starts at 0: batch_idx counts per loader" in p for p in problems)


def test_a_foreign_optimizer_is_named() -> None:
    trace = expected_calls(BASIC)
    i = _index(trace, "on_before_optimizer_step")
    trace[i] = replace(trace[i], args={"optimizer": {"optimizer": -1}})
    assert semantic_problems(trace, BASIC) == [
        f"call {i}: on_before_optimizer_step received an optimizer that configure_optimizers did not return "
        "(a copy or a different instance)"
    ]


def test_a_checkpoint_without_the_trainer_keys_is_named() -> None:
    trace = [Call("on_save_checkpoint", "module", {"checkpoint": {"keys": ["epoch", "state_dict"]}})]
    (problem,) = semantic_problems(trace, BASIC)
    assert problem.startswith("call 0: on_save_checkpoint: the checkpoint dict lacks callbacks, global_step, loops")


ACCUMULATE = Scenario(name="acc", accumulate_grad_batches=2)


@pytest.mark.parametrize(
    ("probe", "message"),
    [
        (LossProbe(0, True, 0.5, 0.5), "loss 0.5 is training_step's loss undivided; expected it divided by accumulate_grad_batches=2"),
        (LossProbe(0, False, 0.25, 0.5), "loss does not require grad"),
        (LossProbe(1, True, 0.25, 0.5), "loss has 1 dimensions, expected a scalar"),
        (LossProbe(0, True, 0.1, 0.5), "loss 0.1, expected training_step's loss 0.5 / 2 = 0.25"),
    ],
)
def test_loss_probes_at_on_before_backward(probe: LossProbe, message: str) -> None:
    problems = semantic_problems([], ACCUMULATE, Probes(before_backward=[probe]))
    assert any(message in p for p in problems), problems


def test_a_correctly_divided_loss_passes() -> None:
    probes = Probes(before_backward=[LossProbe(0, True, 0.25, 0.5)], train_batch_end=[OutputsProbe(True, False, 0.25, 0.5)])
    assert semantic_problems([], ACCUMULATE, probes) == []


def test_outputs_of_on_train_batch_end_hold_the_detached_loss() -> None:
    attached = Probes(train_batch_end=[OutputsProbe(True, True, 0.25, 0.5)])
    assert semantic_problems([], ACCUMULATE, attached) == [
        "on_train_batch_end #0: outputs['loss'] still requires grad; it must be detached"
    ]
    missing = Probes(train_batch_end=[OutputsProbe(False, False, float("nan"), 0.5)])
    assert semantic_problems([], ACCUMULATE, missing) == ["on_train_batch_end #0: outputs hold no 'loss'"]


def test_predictions_are_checked_against_return_predictions() -> None:
    scenario = Scenario(fn="predict", return_predictions=False)
    assert semantic_problems([], scenario, Probes(returned=[1, 2], returned_set=True)) == [
        "predict(return_predictions=False) returned list, expected None"
    ]
    two = Scenario(fn="predict", predict_batches=(2, 1), return_predictions=True)
    assert semantic_problems([], two, Probes(returned=[[1, 2], [3]], returned_set=True)) == []
    assert "expected [2, 1]" in semantic_problems([], two, Probes(returned=[1, 2, 3], returned_set=True))[0]


def test_core_level_uses_the_spec_rules_not_the_exact_order() -> None:
    trace = expected_calls(BASIC)
    # moving on_fit_start's callbacks around is a strict difference
    verdict = validate(trace, BASIC, level="core")
    assert verdict.ok, verdict.message
    assert verdict.divergence is None


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="level: expected 'strict' or 'core', got 'loose'"):
        validate([], BASIC, level="loose")  # type: ignore[arg-type]


def test_a_loaded_checkpoint_without_the_trainer_keys_is_named() -> None:
    trace = [Call("on_load_checkpoint", "callback", {"checkpoint": {"keys": ["state_dict"]}})]
    (problem,) = semantic_problems(trace, BASIC)
    assert problem.startswith("call 0: callback.on_load_checkpoint: the checkpoint dict lacks callbacks, epoch")


def test_a_call_far_later_is_not_called_late() -> None:
    expected = [Call("a"), Call("b"), *[Call(f"x{i}") for i in range(20)], Call("b")]
    actual = [Call("a"), Call("z"), *[Call(f"x{i}") for i in range(20)], Call("b")]
    divergence = first_divergence(expected, actual)
    assert divergence is not None and divergence.problem == "call 1: expected b, got z"
    near = [Call("a"), Call("z"), Call("b")]
    divergence = first_divergence([Call("a"), Call("b"), Call("c")], near)
    assert divergence is not None and divergence.problem == "call 1: unexpected call: z (before b)"
