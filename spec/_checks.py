"""Runtime checks: every hook call checked against the table, when checks are on.

beartype checks a ``Protocol`` only for the presence of its members, so the checks
are made on the calls themselves: each parameter's value against the table's
annotation on the way in, the returned value against the hook's return contract
on the way out. Each annotation is compiled by beartype once, into a tiny checking
function, so a checked call costs a few function calls.

Checks are switched by one setting: the environment variable ``LOOPHOOKS_CHECKS``
(``1``/``true``/``on`` or ``0``/``false``/``off``) read at import, and
:func:`set_checks`. When they are off, :func:`check_args` and :func:`check_return`
are never reached: callers test :func:`checks_enabled` (or cache it per run), so
checks cost nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, Final

from beartype import beartype
from beartype.roar import BeartypeCallHintViolation
from typing_extensions import get_args, get_origin

from loophooks.spec._render import render_hint
from loophooks.spec._table import HOOKS, Hook, Param

__all__ = [
    "RETURN_HINTS",
    "HookContractError",
    "check_args",
    "check_return",
    "checks_enabled",
    "describe",
    "checks_from_env",
    "set_checks",
]

_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off", ""})


def checks_from_env() -> bool:
    """``LOOPHOOKS_CHECKS`` as it is now: 1/true/yes/on or 0/false/no/off (or unset); anything else raises."""
    raw = os.environ.get("LOOPHOOKS_CHECKS", "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f"LOOPHOOKS_CHECKS must be one of 1/true/on or 0/false/off, not {raw!r}")


_enabled: bool = checks_from_env()


def checks_enabled() -> bool:
    """Whether hook calls are checked (``LOOPHOOKS_CHECKS``, or the last :func:`set_checks`)."""
    return _enabled


def set_checks(enabled: bool) -> None:
    """Turn the runtime checks on or off for every later run in this process."""
    global _enabled
    _enabled = bool(enabled)


RETURN_HINTS: Final[dict[str, str]] = {name: hook.return_hint for name, hook in HOOKS.items() if hook.return_hint}
"""What to write instead, for the returned values people get wrong (the table's ``Hook.return_hint``)."""


class HookContractError(TypeError):
    """A hook was called with, or returned, a value the spec does not allow.

    ``parameter`` is the parameter's name, or ``"return"`` for the returned value.
    """

    def __init__(self, hook: str, parameter: str, expected: str, received: Any, *, owner: object = None) -> None:
        self.hook = hook
        self.parameter = parameter
        self.expected = expected
        self.received = received
        self.owner = owner
        where = f"{_owner_name(owner)}.{hook}" if owner is not None else hook
        got = f"{type(received).__name__} {_short_repr(received)}"
        if parameter == "return":
            message = f"{where} returned {got}; the spec expects {expected}"
            if hook in RETURN_HINTS:
                message += f": {RETURN_HINTS[hook]}"
        else:
            message = f"{where}: argument `{parameter}` expected {expected}, received {got}"
        super().__init__(message)


def _owner_name(owner: object) -> str:
    return owner.__name__ if isinstance(owner, type) else type(owner).__name__


def _short_repr(value: Any, limit: int = 60) -> str:
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        text = object.__repr__(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(hint: Any) -> str:
    """A hint as a person reads it: ``int``, ``Optional[Literal[-1]]``, ``a batch (anything but None)``."""
    if get_origin(hint) is not None and any(type(a).__name__ == "BeartypeValidator" for a in get_args(hint)):
        return "a batch (anything but None)"
    return render_hint(hint)


_Checker = Callable[[Any], None]
_arg_checkers: dict[int, tuple[tuple[str, _Checker, str], ...]] = {}
_return_checkers: dict[int, tuple[_Checker, str]] = {}


def _compile(hint: Any) -> _Checker:
    """A function that raises ``BeartypeCallHintViolation`` unless its argument satisfies ``hint``."""

    def check(value: Any) -> None:
        return None

    check.__annotations__ = {"value": hint, "return": None}
    return beartype(check)


def _checkers_for(hook: Hook) -> tuple[tuple[str, _Checker, str], ...]:
    found = _arg_checkers.get(id(hook))
    if found is None:
        found = tuple((p.name, _compile(p.annotation), describe(p.annotation)) for p in hook.params if _checked(p))
        _arg_checkers[id(hook)] = found
    return found


def _checked(param: Param) -> bool:
    return param.annotation is not Any


def check_args(hook: Hook, args: Mapping[str, Any], *, owner: object = None) -> None:
    """Check the arguments of one call of ``hook``; raise :class:`HookContractError` on the first bad one.

    ``args`` maps parameter names to values; parameters it leaves out (a
    ``dataloader_idx`` not passed, say) are not checked.
    """
    for name, checker, expected in _checkers_for(hook):
        if name in args:
            value = args[name]
            try:
                checker(value)
            except BeartypeCallHintViolation:
                raise HookContractError(hook.name, name, expected, value, owner=owner) from None


def check_return(hook: Hook, value: Any, *, owner: object = None) -> None:
    """Check what one call of ``hook`` returned against its return contract."""
    found = _return_checkers.get(id(hook))
    if found is None:
        contract = hook.return_contract
        found = (_compile(contract), describe(contract))
        _return_checkers[id(hook)] = found
    checker, expected = found
    try:
        checker(value)
    except BeartypeCallHintViolation:
        raise HookContractError(hook.name, "return", expected, value, owner=owner) from None
