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

PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")
_ALIASES = {"32": "32-true", 32: "32-true", "bf16": "bf16-mixed", "16": "16-mixed", 16: "16-mixed"}


@final
class Precision:
    """One of ``32-true``, ``bf16-mixed`` (autocast to bfloat16) and ``16-mixed`` (float16 autocast + GradScaler)."""

    __slots__ = ("autocast", "precision", "scaler")

    def __init__(self, precision: str | int, device: torch.device) -> None:
        name = _ALIASES.get(precision, precision)
        if name not in PRECISIONS:
            raise ConfigurationError(f"Trainer(precision=...) must be one of {PRECISIONS}; received {precision!r}")
        self.precision: str = str(name)
        self.autocast: Optional[torch.autocast] = None
        self.scaler: Optional[torch.amp.GradScaler] = None
        if name == "bf16-mixed":
            self.autocast = torch.autocast(device.type, dtype=torch.bfloat16)
        elif name == "16-mixed":
            self.autocast = torch.autocast(device.type, dtype=torch.float16)
            self.scaler = torch.amp.GradScaler(device.type)

    def scale(self, loss: torch.Tensor) -> torch.Tensor:
        """The loss that backward runs on."""
        return loss if self.scaler is None else self.scaler.scale(loss)

    def state_dict(self) -> dict[str, Any]:
        return self.scaler.state_dict() if self.scaler is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)
