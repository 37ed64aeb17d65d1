"""The unit of every trace: one hook call, as the spec expects it and as a recorder saw it.

Expected sequences (``loophooks.spec.expected_calls``) and recorded traces
(``loophooks.conformance``) are both lists of :class:`Call`, so comparing them is
plain equality with one wildcard, :data:`ANY`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal, Mapping

from typing_extensions import final

from loophooks.spec._hook_names import HookName

__all__ = ["ANY", "Call", "GradMode", "Target"]

Target = Literal["callback", "module", "datamodule"]
"""Who receives the call: a callback, the model, or the datamodule."""

GradMode = Literal["enabled", "no_grad", "inference"]
"""Autograd state at the call: grad enabled, ``torch.no_grad``, or ``torch.inference_mode``."""


@final
class _Any:
    """Matches every value; an expected argument the spec leaves free."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "ANY"


ANY: Final[Any] = _Any()


@final
@dataclass(frozen=True)
class Call:
    """One hook call.

    ``args`` holds the arguments in normalised, JSON-safe form (see
    ``loophooks.conformance.normalize``): ints, strings and bools as they are,
    an optimizer as its index in what ``configure_optimizers`` returned, a
    checkpoint as its sorted keys, a tensor as ``{"shape": [...]}``.
    ``training`` and ``grad`` are the model's mode and the autograd state when
    the hook ran; ``None`` in an expected call means the spec leaves it free.
    """

    hook: HookName
    target: Target = "module"
    args: Mapping[str, Any] = field(default_factory=dict)
    training: bool | None = None
    grad: GradMode | None = None
    device: str | None = None
    """Device of the tensors in the call's ``batch`` argument (``"cpu"``, ``"cuda:0"``);
    ``None`` for calls without a batch, or where the spec leaves it free."""
    source: tuple[str, int, int] | None = field(default=None, compare=False)
    """Where the call's ``batch`` really came from, when the recorder can tell:
    ``(loader stage, loader index, batch position)``, the stage one of ``"train"``,
    ``"val"``, ``"test"``, ``"predict"``. Not compared: the core rule
    ``loader-source`` reads it."""

    def matches(self, actual: Call) -> bool:
        """Whether ``actual`` (a recorded call) satisfies this expected call: same hook, target and
        argument names, equal values (:data:`ANY` matches any), and mode, grad and device where this
        call fixes them."""
        if self.hook != actual.hook or self.target != actual.target:
            return False
        if self.training is not None and self.training != actual.training:
            return False
        if self.grad is not None and self.grad != actual.grad:
            return False
        if self.device is not None and self.device != actual.device:
            return False
        # The same argument names, not a subset: an argument the spec says is not passed
        # (``dataloader_idx`` with a single loader) must not be passed.
        if self.args.keys() != actual.args.keys():
            return False
        return all(value == actual.args[name] for name, value in self.args.items())

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        where = "" if self.target == "module" else f"{self.target}."
        state = []
        if self.training is not None:
            state.append("train" if self.training else "eval")
        if self.grad is not None:
            state.append(self.grad)
        if self.device is not None:
            state.append(self.device)
        suffix = f"  [{', '.join(state)}]" if state else ""
        return f"{where}{self.hook}({args}){suffix}"
