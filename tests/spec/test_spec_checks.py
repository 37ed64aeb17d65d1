"""Runtime checks: for every hook, a good call passes and a bad one raises our error naming the hook."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Mapping
from typing import Any, Literal, Optional, Union, get_args, get_origin

import pytest
import torch
from torch import Tensor
from torch.optim import Optimizer

import loophooks.spec as spec
from loophooks.spec._optimizer_config import OPTIMIZER_FORMS_AT_RUNTIME
from loophooks.spec import (
    CALLBACK_HOOKS,
    HOOKS,
    STEP_OUTPUT,
    Hook,
    HookContractError,
    check_args,
    check_return,
)
from loophooks.spec._checks import call_checks

_OPT = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)

# One value that satisfies each annotation of the table, and one that does not (None: nothing can break Any).
GOOD: dict[Any, Any] = {
    Any: object(),
    int: 3,
    str: "fit",
    Tensor: torch.zeros(()),
    Optimizer: _OPT,
    torch.device: torch.device("cpu"),
    dict[str, Any]: {"epoch": 0},
    STEP_OUTPUT: {"loss": torch.zeros(())},
    Optional[Any]: None,
    Optional[Callable[[], Any]]: lambda: None,
    Optional[Union[int, float]]: 0.5,
    Optional[str]: "norm",
    BaseException: ValueError("boom"),
}
BAD: dict[Any, Any] = {
    Any: None,
    Optional[Any]: None,
    int: "3",
    str: 3,
    Tensor: 1.0,
    Optimizer: "sgd",
    torch.device: "cuda:0",
    dict[str, Any]: [("epoch", 0)],
    STEP_OUTPUT: 5,
    Optional[Callable[[], Any]]: 5,
    Optional[Union[int, float]]: "1.0",
    Optional[str]: 2,
    BaseException: "boom",
}

ALL = [(h, "module") for h in HOOKS.values()] + [(h, "callback") for h in CALLBACK_HOOKS.values()]
IDS = [f"{kind}.{h.name}" for h, kind in ALL]


def _good_args(hook: Hook) -> dict[str, Any]:
    return {p.name: GOOD[p.annotation] for p in hook.params}


@pytest.mark.parametrize(("hook", "kind"), ALL, ids=IDS)
def test_good_call_passes(hook: Hook, kind: str) -> None:
    check_args(hook, _good_args(hook))


BREAKABLE = [(h, kind) for h, kind in ALL if any(BAD[p.annotation] is not None for p in h.params)]


@pytest.mark.parametrize(("hook", "kind"), BREAKABLE, ids=[f"{kind}.{h.name}" for h, kind in BREAKABLE])
def test_bad_argument_raises_naming_hook_and_parameter(hook: Hook, kind: str) -> None:
    for param in (p for p in hook.params if BAD[p.annotation] is not None):
        args = _good_args(hook)
        args[param.name] = BAD[param.annotation]
        with pytest.raises(HookContractError) as info:
            check_args(hook, args, owner=torch.nn.Linear(1, 1))
        err = info.value
        assert (err.hook, err.parameter) == (hook.name, param.name)
        assert f"Linear.{hook.name}" in str(err) and f"`{param.name}`" in str(err)
        assert type(BAD[param.annotation]).__name__ in str(err)


def _returns(hook: Hook) -> tuple[Any, Any]:
    """A good and a bad return value for ``hook``'s contract (bad is None where nothing is bad)."""
    contract = hook.return_contract
    if contract is None:
        return None, 1
    if contract is Any:
        return object(), None
    if get_origin(contract) is Union and Literal[-1] in get_args(contract):
        return -1, "skip"
    if contract == spec.TRAIN_DATALOADERS:
        return [1, 2], 5
    if contract in (spec.OptimizerLRScheduler, OPTIMIZER_FORMS_AT_RUNTIME):
        return _OPT, "adam"
    if contract == STEP_OUTPUT:
        return torch.zeros(()), 5
    if contract == dict[str, Any]:
        return {}, None
    if get_origin(contract) is not None and get_origin(contract) is not Union:  # Annotated: "a batch"
        return {"x": 1}, None
    raise AssertionError(f"no sample values for {contract!r}")


@pytest.mark.parametrize(("hook", "kind"), ALL, ids=IDS)
def test_return_contract(hook: Hook, kind: str) -> None:
    good, bad = _returns(hook)
    check_return(hook, good)
    if bad is None and hook.return_contract is Any:
        return
    with pytest.raises(HookContractError) as info:
        check_return(hook, bad)
    assert info.value.parameter == "return" and hook.name in str(info.value)


@pytest.mark.parametrize("value", [None, -1])
def test_train_batch_start_may_return_none_or_minus_one(value: Any) -> None:
    check_return(HOOKS["on_train_batch_start"], value)


@pytest.mark.parametrize("value", ["skip", 0, 1, -1.0, True])
def test_train_batch_start_rejects_other_values(value: Any) -> None:
    with pytest.raises(HookContractError, match="on_train_batch_start returned"):
        check_return(HOOKS["on_train_batch_start"], value)


@pytest.mark.parametrize("hook", ["on_before_batch_transfer", "on_after_batch_transfer", "transfer_batch_to_device"])
def test_batch_hooks_must_return_a_batch(hook: str) -> None:
    with pytest.raises(HookContractError, match=r"a batch \(anything but None\)"):
        check_return(HOOKS[hook], None)


@pytest.mark.parametrize("hook", ["on_before_batch_transfer", "on_after_batch_transfer", "transfer_batch_to_device"])
def test_batch_hooks_may_hand_on_a_none_they_were_given(hook: str) -> None:
    # A loader may yield None (Lightning passes it through these hooks): None in, None out is no violation.
    check_return(HOOKS[hook], None, given=None)
    call_checks(HOOKS[hook]).returned(None, (None, 0), {})
    call_checks(HOOKS[hook]).returned(None, (), {"batch": None, "dataloader_idx": 0})
    with pytest.raises(HookContractError, match=r"a batch \(anything but None\)"):
        check_return(HOOKS[hook], None, given=(torch.zeros(1),))
    with pytest.raises(HookContractError, match=r"a batch \(anything but None\)"):
        call_checks(HOOKS[hook]).returned(None, ((torch.zeros(1),), 0), {})


def test_only_the_hooks_that_hand_a_batch_on_let_none_through() -> None:
    assert {name for name, hook in HOOKS.items() if hook.hands_on} == {
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
    }
    with pytest.raises(HookContractError, match="train_dataloader returned"):
        check_return(HOOKS["train_dataloader"], None, given=None)


def test_left_out_optional_argument_is_not_checked() -> None:
    check_args(HOOKS["on_validation_batch_start"], {"batch": 1, "batch_idx": 0})


def _checks_in_child(value: str | None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "", "LOOPHOOKS_CHECKS": value} if value is not None else {"PATH": ""}
    code = "import loophooks.spec as s; print(s.checks_enabled())"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


@pytest.mark.parametrize(("value", "expected"), [(None, "False"), ("on", "True"), ("0", "False")])
def test_environment_switches_checks(value: str | None, expected: str) -> None:
    result = _checks_in_child(value)
    assert result.stdout.strip() == expected, result.stderr


def test_unreadable_environment_value_is_an_error() -> None:
    result = _checks_in_child("maybe")
    assert result.returncode != 0 and "LOOPHOOKS_CHECKS" in result.stderr


def test_set_checks_switches_at_runtime() -> None:
    import loophooks.spec as spec

    before = spec.checks_enabled()
    try:
        spec.set_checks(True)
        assert spec.checks_enabled()
        spec.set_checks(False)
        assert not spec.checks_enabled()
    finally:
        spec.set_checks(before)


def test_sample_tables_cover_every_annotation() -> None:
    annotations: set[Any] = set()
    for hook, _ in ALL:
        annotations.update(p.annotation for p in hook.params)
    assert annotations <= set(GOOD) and annotations <= set(BAD)
    assert isinstance(GOOD, Mapping)
