"""Type hints as source text: for error messages, rendered signatures and the stubs."""

from __future__ import annotations

import collections.abc
import types
from typing import Any, Literal, Union

from typing_extensions import get_args, get_origin

__all__ = ["render_hint"]

# Names as a reader (and the stubs, which import them so) spell them.
_NAMES: dict[object, str] = {
    Any: "Any",
    type(None): "None",
    collections.abc.Callable: "Callable",
    collections.abc.Mapping: "Mapping",
    collections.abc.Sequence: "Sequence",
}


def render_hint(hint: Any) -> str:
    """``Optional[int]`` as ``int | None``, ``torch.device`` as ``torch.device``, and so on."""
    if hint is None or hint is type(None):
        return "None"
    if hint in _NAMES:
        return _NAMES[hint]
    origin = get_origin(hint)
    if origin is None:
        if isinstance(hint, type):
            if hint.__module__ == "builtins":
                return hint.__name__
            if hint.__module__.startswith("torch"):
                short = {"Tensor", "Optimizer", "LRScheduler"} & {hint.__name__}
                return short.pop() if short else f"torch.{hint.__name__}"
            return hint.__name__
        return str(hint).replace("typing.", "")
    args = get_args(hint)
    if origin is Union or origin is types.UnionType:
        return " | ".join(render_hint(a) for a in args)
    if origin is Literal:
        return f"Literal[{', '.join(repr(a) for a in args)}]"
    if any(type(a).__name__ == "BeartypeValidator" for a in args):  # Annotated[object, Is[...]]
        return "object"
    if origin is collections.abc.Callable:
        params, ret = args[0], args[-1]
        inner = "..." if params is Ellipsis else f"[{', '.join(render_hint(a) for a in params)}]"
        return f"Callable[{inner}, {render_hint(ret)}]"
    name = _NAMES.get(origin) or getattr(origin, "__name__", str(origin))
    return f"{name}[{', '.join(render_hint(a) for a in args)}]"
