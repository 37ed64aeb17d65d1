"""``call_checks``' compiled checks decide exactly as beartype does, for every parameter and return contract
of every table, on values of many kinds: the isinstance shortcut only skips beartype where beartype passes."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from loophooks.spec import CALLBACK_HOOKS, DATAMODULE_HOOKS, HOOKS, HookContractError
from loophooks.spec._checks import _compile, _sure_types, call_checks

_PARAM = torch.nn.Parameter(torch.zeros(1))
VALUES: list[Any] = [
    None,
    0,
    -1,
    True,
    1.5,
    "fit",
    b"x",
    torch.zeros(1),
    _PARAM,
    {},
    {"loss": torch.zeros(())},
    {1: 2},
    [],
    [1],
    (),
    lambda: 0,
    lambda a, b: 0,
    print,
    torch.optim.SGD([_PARAM], lr=0.1),
    torch.device("cpu"),
    ValueError("x"),
    KeyboardInterrupt(),
    object(),
    iter([]),
    range(3),
    torch.utils.data.DataLoader([1, 2]),
]

_HINTS = {
    repr(hint): hint
    for table in (HOOKS, CALLBACK_HOOKS, DATAMODULE_HOOKS)
    for hook in table.values()
    for hint in (*(p.annotation for p in hook.params), hook.return_contract)
}


_COMPILED: dict[str, Any] = {}


def _beartype_accepts(hint: Any, value: Any) -> bool:
    checker = _COMPILED.get(repr(hint))
    if checker is None:
        checker = _COMPILED[repr(hint)] = _compile(hint)
    try:
        checker(value)
    except Exception:
        return False
    return True


@pytest.mark.parametrize("hint", list(_HINTS.values()), ids=list(_HINTS))
def test_the_shortcut_never_accepts_what_beartype_refuses(hint: Any) -> None:
    sure = _sure_types(hint)
    for value in VALUES:
        if isinstance(value, sure):
            assert _beartype_accepts(hint, value), (hint, value)


def _accepts(check: Any) -> bool:
    try:
        check()
    except HookContractError:
        return False
    return True


@pytest.mark.parametrize("table", [HOOKS, CALLBACK_HOOKS, DATAMODULE_HOOKS], ids=["model", "callback", "datamodule"])
def test_compiled_checks_decide_as_beartype(table: Any) -> None:
    for hook in table.values():
        checks = call_checks(hook)
        for value in VALUES:
            assert _accepts(lambda: checks.result(value)) == _beartype_accepts(hook.return_contract, value), (
                hook.name,
                value,
            )
            for i, param in enumerate(hook.params):
                expected = param.annotation is Any or _beartype_accepts(param.annotation, value)
                named = _accepts(lambda: checks.named({param.name: value}))
                keyword = _accepts(lambda: checks.args((), {param.name: value}))
                assert named == keyword == expected, (hook.name, param.name, value)
                if i == 0:
                    assert _accepts(lambda: checks.args((value,), {})) == expected, (hook.name, param.name, value)


def test_a_positional_argument_is_checked_against_its_parameter() -> None:
    checks = call_checks(HOOKS["optimizer_step"])  # (epoch, batch_idx, optimizer, optimizer_closure)
    checks.args((0, 1, torch.optim.SGD([_PARAM], lr=0.1), None), {})
    with pytest.raises(HookContractError, match="argument `batch_idx` expected int, received str"):
        checks.args((0, "one"), {})
    checks.args((0,), {})  # parameters a call leaves out are not checked
