"""Precision: the autocast context for steps and loss scaling for 16-bit (engine/_step.py steps with them).

The hook contracts hold in every precision: ``on_before_backward`` receives the
loss that backward runs on (scaled under ``16-mixed``), ``on_before_optimizer_step``
sees unscaled gradients, and clipping runs on unscaled gradients after it.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from typing_extensions import final

from loophooks.engine._errors import ConfigurationError

__all__ = ["PRECISIONS", "Precision"]

PRECISIONS = ("32-true", "bf16-mixed", "16-mixed", "64-true", "bf16-true", "16-true")
_ALIASES = {
    "32": "32-true",
    32: "32-true",
    "bf16": "bf16-mixed",
    "16": "16-mixed",
    16: "16-mixed",
    "64": "64-true",
    64: "64-true",
}
# The "-true" precisions: the model's weights, its inputs' floating tensors and the default dtype inside steps.
_TRUE_DTYPES = {"64-true": torch.float64, "bf16-true": torch.bfloat16, "16-true": torch.float16}


@final
class DefaultDtype:
    """A reusable context that sets torch's default dtype and restores the previous one (steps under "-true")."""

    __slots__ = ("dtype", "_saved")

    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype
        self._saved: list[torch.dtype] = []

    def __enter__(self) -> None:
        self._saved.append(torch.get_default_dtype())
        torch.set_default_dtype(self.dtype)

    def __exit__(self, *exc: object) -> None:
        torch.set_default_dtype(self._saved.pop())


def _convert(data: Any, dtype: torch.dtype) -> Any:
    """``data`` with every floating-point tensor cast to ``dtype`` (lists, tuples, dicts walked)."""
    if isinstance(data, torch.Tensor):
        return data.to(dtype) if data.is_floating_point() else data
    if isinstance(data, dict):
        return type(data)((k, _convert(v, dtype)) for k, v in data.items())
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(_convert(v, dtype) for v in data))
    if isinstance(data, (list, tuple)):
        return type(data)(_convert(v, dtype) for v in data)
    return data


@final
class Precision:
    """One of ``32-true``, ``bf16-mixed`` (autocast to bfloat16) and ``16-mixed`` (float16 autocast + GradScaler)."""

    __slots__ = ("autocast", "module_dtype", "precision", "scaler")

    def __init__(self, precision: str | int, device: torch.device) -> None:
        name = _ALIASES.get(precision, precision)
        if name not in PRECISIONS:
            raise ConfigurationError(f"Trainer(precision=...) must be one of {PRECISIONS}; received {precision!r}")
        if name == "16-mixed" and device.type == "cpu":  # Lightning's rule: no float16 AMP on CPU
            import warnings

            warnings.warn(
                "Trainer(precision='16-mixed') on the CPU: float16 autocast is not supported there; using "
                "'bf16-mixed' instead (as Lightning does)",
                UserWarning,
                stacklevel=3,
            )
            name = "bf16-mixed"
        self.precision: str = str(name)
        self.autocast: Optional[Any] = None  # a reusable context the steps run under
        self.scaler: Optional[torch.amp.GradScaler] = None
        self.module_dtype: Optional[torch.dtype] = _TRUE_DTYPES.get(self.precision)
        if self.module_dtype is not None:
            self.autocast = DefaultDtype(self.module_dtype)
        elif name == "bf16-mixed":
            self.autocast = torch.autocast(device.type, dtype=torch.bfloat16)
        elif name == "16-mixed":
            self.autocast = torch.autocast(device.type, dtype=torch.float16)
            self.scaler = torch.amp.GradScaler(device.type)

    def convert_input(self, batch: Any) -> Any:
        """The batch as a "-true" precision's model takes it: floating tensors in its dtype."""
        return batch if self.module_dtype is None else _convert(batch, self.module_dtype)

    def scale(self, loss: torch.Tensor) -> torch.Tensor:
        """The loss that backward runs on."""
        return loss if self.scaler is None else self.scaler.scale(loss)

    def state_dict(self) -> dict[str, Any]:
        return self.scaler.state_dict() if self.scaler is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)
