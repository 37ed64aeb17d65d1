"""``HookName`` (spec/_hook_names.py) lists exactly the hook table's names, in the table's order."""

from __future__ import annotations

from typing import get_args

import pytest

from loophooks.spec import CALLBACK_HOOKS, HOOKS
from loophooks.spec._hook_names import HOOK_NAMES, HookName, hook_name


def test_hook_name_literal_equals_the_table() -> None:
    table = [*HOOKS, *(n for n in CALLBACK_HOOKS if n not in HOOKS)]
    assert list(get_args(HookName)) == table
    assert HOOK_NAMES == set(HOOKS) | set(CALLBACK_HOOKS)


def test_hook_name_checks_a_runtime_string() -> None:
    assert hook_name("on_" + "train_start") == "on_train_start"
    with pytest.raises(ValueError, match="'on_train_strat' is not a hook"):
        hook_name("on_train_strat")
