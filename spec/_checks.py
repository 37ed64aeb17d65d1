"""Runtime checks: every hook call checked against the table, when checks are on.

beartype checks a ``Protocol`` only for the presence of its members, so the checks
are made on the calls themselves: each parameter's value against the table's
annotation on the way in, the returned value against the hook's return contract
on the way out. Each annotation is compiled by beartype once, into a tiny checking
function, and each hook's checks once (:func:`call_checks`), so a checked call costs a
few ``isinstance`` tests, and a beartype call only for values no plain class vouches for.

Checks are switched by one setting: the environment variable ``LOOPHOOKS_CHECKS``
(``1``/``true``/``on`` or ``0``/``false``/``off``) read at import, and
:func:`set_checks`. When they are off, :func:`check_args` and :func:`check_return`
are never reached: callers test :func:`checks_enabled` (or cache it per run), so
checks cost nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from collections.abc import Callable as CallableABC
from types import GenericAlias, UnionType
from typing import Any, Final, Union

from beartype import beartype
from beartype.roar import BeartypeCallHintViolation
from typing_extensions import final, get_args, get_origin

from loophooks.spec._render import render_hint
from loophooks.spec._table import HOOKS, Hook, Param

__all__ = [
    "RETURN_HINTS",
    "CallChecks",
    "HookContractError",
    "call_checks",
    "check_args",
    "check_return",
    "checks_enabled",
    "describe",
    "checks_from_env",
    "set_checks",
]

_NOT_GIVEN: Final = object()
"""``given`` not passed to a return check: nothing is known of what the call was handed."""

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


def _compile(hint: Any) -> _Checker:
    """A function that raises ``BeartypeCallHintViolation`` unless its argument satisfies ``hint``."""

    def check(value: Any) -> None:
        return None

    check.__annotations__ = {"value": hint, "return": None}
    return beartype(check)


def _sure_types(hint: Any) -> tuple[type, ...]:
    """Classes whose instances satisfy ``hint`` for certain, so that checking them needs no beartype call.

    A plain class (``int``, ``torch.Tensor``, ``Optimizer``) is checked by beartype with ``isinstance``, so an
    instance of it passes; so does an instance of a plain-class member of a ``Union`` (``None`` for
    ``Optional``), and any callable for ``Callable[...]`` (beartype checks only that it is callable). Anything else (generics, ``Literal``, validators) gives no sure class: the value goes to
    beartype, as does any value that is not an instance of a sure class (beartype then decides and words the
    failure). The checks are therefore exactly beartype's, only cheaper for the common values.
    """
    if hint is Any or hint is object:
        return (object,)
    if hint is None or hint is type(None):
        return (type(None),)
    origin = get_origin(hint)
    if origin in (Union, UnionType):
        return tuple(t for arg in get_args(hint) for t in _sure_types(arg))
    if origin is CallableABC:  # beartype checks a Callable[...] shallowly: callable, whatever its signature
        return (CallableABC,)
    if origin is not None or isinstance(hint, GenericAlias):  # list[int] is a type on 3.10: not a plain class
        return ()
    if isinstance(hint, type) and not getattr(hint, "_is_protocol", False):
        return (hint,)
    return ()


@final
class CallChecks:
    """One hook's checks, compiled once: what :func:`check_args` and :func:`check_return` do, per call cheaper.

    Arguments are matched to the hook's parameters as a call binds them: positionally in the table's order,
    or by keyword. Parameters the call leaves out are not checked; ``Any`` parameters never are.
    """

    __slots__ = ("hook", "_none_passes", "_params", "_result")

    def __init__(self, hook: Hook) -> None:
        self.hook = hook
        self._params = tuple(
            (i, p.name, _sure_types(p.annotation), _compile(p.annotation), describe(p.annotation))
            for i, p in enumerate(hook.params)
            if _checked(p)
        )
        contract = hook.return_contract
        self._result = (_sure_types(contract), _compile(contract), describe(contract))
        self._none_passes = hook.hands_on  # None handed in may be handed on (Hook.hands_on)

    def args(self, args: tuple[Any, ...], kwargs: Mapping[str, Any], owner: object = None) -> None:
        """Check one call's arguments (``args`` positional, ``kwargs`` by name); raise on the first bad one."""
        n = len(args)
        for i, name, sure, checker, expected in self._params:
            if kwargs and name in kwargs:
                value = kwargs[name]
            elif i < n:
                value = args[i]
            else:
                continue
            if not isinstance(value, sure):
                _check(checker, value, self.hook.name, name, expected, owner)

    def named(self, args: Mapping[str, Any], owner: object = None) -> None:
        """Check arguments given by parameter name (:func:`check_args`)."""
        for _, name, sure, checker, expected in self._params:
            if name in args:
                value = args[name]
                if not isinstance(value, sure):
                    _check(checker, value, self.hook.name, name, expected, owner)

    def result(self, value: Any, owner: object = None, *, given: Any = _NOT_GIVEN) -> None:
        """Check what one call returned against the hook's return contract.

        ``given`` is the batch the call was handed, for a hook that hands it on
        (``Hook.hands_on``): ``None`` returned for ``None`` given is then no violation.
        """
        sure, checker, expected = self._result
        if not isinstance(value, sure):
            if value is None and given is None and self._none_passes:
                return
            _check(checker, value, self.hook.name, "return", expected, owner)

    def returned(self, value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], owner: object = None) -> None:
        """:meth:`result` for one call made with ``args`` and ``kwargs`` (the batch it was handed read from them)."""
        sure, checker, expected = self._result
        if isinstance(value, sure):
            return
        if value is None and self._none_passes:
            given = kwargs["batch"] if "batch" in kwargs else args[0] if args else _NOT_GIVEN
            if given is None:
                return
        _check(checker, value, self.hook.name, "return", expected, owner)


def _check(checker: _Checker, value: Any, hook: str, parameter: str, expected: str, owner: object) -> None:
    try:
        checker(value)
    except BeartypeCallHintViolation:
        raise HookContractError(hook, parameter, expected, value, owner=owner) from None


_compiled: dict[int, CallChecks] = {}


def call_checks(hook: Hook) -> CallChecks:
    """``hook``'s compiled checks (compiled on first use; the tables' hooks live as long as the process)."""
    found = _compiled.get(id(hook))
    if found is None or found.hook is not hook:
        found = _compiled[id(hook)] = CallChecks(hook)
    return found


def _checked(param: Param) -> bool:
    return param.annotation is not Any


def check_args(hook: Hook, args: Mapping[str, Any], *, owner: object = None) -> None:
    """Check the arguments of one call of ``hook``; raise :class:`HookContractError` on the first bad one.

    ``args`` maps parameter names to values; parameters it leaves out (a
    ``dataloader_idx`` not passed, say) are not checked.
    """
    call_checks(hook).named(args, owner)


def check_return(hook: Hook, value: Any, *, owner: object = None, given: Any = _NOT_GIVEN) -> None:
    """Check what one call of ``hook`` returned against its return contract.

    ``given``: the batch the call was handed, for the hooks that hand it on
    (``Hook.hands_on``), where ``None`` may come back for ``None``.
    """
    call_checks(hook).result(value, owner, given=given)
