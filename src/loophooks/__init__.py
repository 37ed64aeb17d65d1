"""loophooks: the hooks of a PyTorch training loop as an open, checkable standard.

The three parts live in their own packages: :mod:`loophooks.spec` (the hook table,
the Protocols, the call order, the checks), :mod:`loophooks.conformance` (the suite
a framework runs against itself) and :mod:`loophooks.engine` (the reference
trainer). The names most people need are re-exported here.

They are imported on first use: pytest loads ``loophooks.conformance`` as a plugin
in every session of an environment where loophooks is installed, and that must
not cost the import of torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loophooks.engine import (
        Callback,
        EarlyStopping,
        LoopDataModule,
        LoopModule,
        ModelCheckpoint,
        Trainer,
    )
    from loophooks.spec import (
        CALLBACK_HOOKS,
        HOOKS,
        SPEC_VERSION,
        CheckpointHooks,
        DataHooks,
        HookContractError,
        HookSignatureError,
        HookSignatureWarning,
        ModelHooks,
        Scenario,
        expected_calls,
        set_checks,
    )

__version__ = "0.1.0"

_HOME = {
    "Callback": "loophooks.engine",
    "EarlyStopping": "loophooks.engine",
    "LoopDataModule": "loophooks.engine",
    "LoopModule": "loophooks.engine",
    "ModelCheckpoint": "loophooks.engine",
    "Trainer": "loophooks.engine",
    "CALLBACK_HOOKS": "loophooks.spec",
    "HOOKS": "loophooks.spec",
    "SPEC_VERSION": "loophooks.spec",
    "CheckpointHooks": "loophooks.spec",
    "DataHooks": "loophooks.spec",
    "HookContractError": "loophooks.spec",
    "HookSignatureError": "loophooks.spec",
    "HookSignatureWarning": "loophooks.spec",
    "ModelHooks": "loophooks.spec",
    "Scenario": "loophooks.spec",
    "expected_calls": "loophooks.spec",
    "set_checks": "loophooks.spec",
}

__all__ = sorted(_HOME) + ["__version__"]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'loophooks' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))
