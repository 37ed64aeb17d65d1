"""The base class of the engine's callbacks: the spec's do-nothing hooks plus Lightning's state members."""

from __future__ import annotations

from typing import Any

from loophooks.spec import Callback as CallbackHooks

__all__ = ["Callback", "Checkpoint"]


class Callback(CallbackHooks):
    """Base for callbacks: the spec's do-nothing defaults for every hook, plus Lightning's ``state_key``.

    Override the hooks you need; the dispatcher skips the ones you keep.
    """

    @property
    def state_key(self) -> str:
        """Key of this callback's state in a checkpoint's ``"callbacks"``; unique per configuration."""
        return type(self).__qualname__

    def _generate_state_key(self, **kwargs: Any) -> str:
        return f"{type(self).__qualname__}{kwargs!r}"

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        pass


class Checkpoint(Callback):
    """Base of the callbacks that write checkpoints (Lightning's ``Checkpoint``)."""


def _register() -> None:
    from loophooks.spec import register_base

    register_base(Callback)


_register()
