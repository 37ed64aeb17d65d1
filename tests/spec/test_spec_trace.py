"""Matching a recorded call against an expected one."""

from __future__ import annotations

from loophooks.spec import ANY, Call


def test_same_call_matches_and_any_matches_every_value() -> None:
    expected = Call("on_validation_batch_start", args={"batch": ANY, "batch_idx": 0})
    assert expected.matches(Call("on_validation_batch_start", args={"batch": {"shape": [2, 4]}, "batch_idx": 0}))


def test_an_argument_the_spec_does_not_pass_is_a_mismatch() -> None:
    expected = Call("on_validation_batch_start", args={"batch": ANY, "batch_idx": 0})
    stray = Call("on_validation_batch_start", args={"batch": 1, "batch_idx": 0, "dataloader_idx": 0})
    assert not expected.matches(stray)


def test_a_missing_argument_is_a_mismatch() -> None:
    expected = Call("on_validation_batch_start", args={"batch": ANY, "batch_idx": 0, "dataloader_idx": 1})
    assert not expected.matches(Call("on_validation_batch_start", args={"batch": 1, "batch_idx": 0}))


def test_state_is_compared_only_where_the_expected_call_fixes_it() -> None:
    free = Call("setup", args={"stage": "fit"})
    fixed = Call("on_train_start", training=True, grad="enabled")
    assert free.matches(Call("setup", args={"stage": "fit"}, training=False, grad="inference"))
    assert not fixed.matches(Call("on_train_start", training=False, grad="enabled"))
    assert not fixed.matches(Call("on_train_start", training=True, grad="no_grad"))
    assert not Call("x", target="callback").matches(Call("x", target="module"))
