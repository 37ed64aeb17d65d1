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

if TYPE_CHECKING:  # explicit re-exports (`X as X`) for type checkers; at runtime, __getattr__ below
    from loophooks.engine import (
        Callback as Callback,
        EarlyStopping as EarlyStopping,
        LoopDataModule as LoopDataModule,
        LoopModule as LoopModule,
        ModelCheckpoint as ModelCheckpoint,
        Trainer as Trainer,
    )
    from loophooks.engine._seed import seed_everything as seed_everything
    from loophooks.spec import (
        CALLBACK_HOOKS as CALLBACK_HOOKS,
        HOOKS as HOOKS,
        SPEC_VERSION as SPEC_VERSION,
        CheckpointHooks as CheckpointHooks,
        DataHooks as DataHooks,
        HookContractError as HookContractError,
        HookSignatureError as HookSignatureError,
        HookSignatureWarning as HookSignatureWarning,
        ModelHooks as ModelHooks,
        Scenario as Scenario,
        expected_calls as expected_calls,
        set_checks as set_checks,
    )

__version__ = "0.1.0"

_HOME = {
    "Callback": "loophooks.engine",
    "EarlyStopping": "loophooks.engine",
    "LoopDataModule": "loophooks.engine",
    "LoopModule": "loophooks.engine",
    "ModelCheckpoint": "loophooks.engine",
    "Trainer": "loophooks.engine",
    "seed_everything": "loophooks.engine._seed",
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

__all__ = [
    "CALLBACK_HOOKS",
    "Callback",
    "CheckpointHooks",
    "DataHooks",
    "EarlyStopping",
    "HOOKS",
    "HookContractError",
    "HookSignatureError",
    "HookSignatureWarning",
    "LoopDataModule",
    "LoopModule",
    "ModelCheckpoint",
    "ModelHooks",
    "SPEC_VERSION",
    "Scenario",
    "Trainer",
    "expected_calls",
    "seed_everything",
    "set_checks",
    "__version__",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'loophooks' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))
