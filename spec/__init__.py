"""loophooks.spec: the hooks of a PyTorch training loop, as a checkable standard.

- The hook table (:data:`HOOKS`, :data:`CALLBACK_HOOKS`): every hook once, the
  single source of truth.
- The Protocols (:class:`ModelHooks`, :class:`DataHooks`, :class:`CheckpointHooks`,
  :class:`Callback`, and finer ones): signatures, contracts and default bodies.
- Runtime checks of hook calls (:func:`set_checks`, :func:`check_args`,
  :func:`check_return`) and registration checks (:func:`verify_module`, ...).
- Traces and scenarios (:class:`Call`, :class:`Scenario`): the vocabulary of the
  machine-readable call order.
"""

from loophooks.spec._checks import (
    HookContractError,
    check_args,
    check_return,
    checks_enabled,
    describe,
    set_checks,
)
from loophooks.spec._protocols import (
    BatchHooks,
    BatchTransferHooks,
    Callback,
    CheckpointHooks,
    ConfigureCallbacks,
    ConfigureModelHooks,
    ConfigureOptimizers,
    DataHooks,
    DataLoaderHooks,
    DataPreparationHooks,
    EpochHooks,
    EvalModeHooks,
    HookNotImplementedError,
    ModelHooks,
    OptimizationHooks,
    OptimizationMethods,
    PredictStep,
    StageHooks,
    TestStep,
    TrainingStep,
    ValidationStep,
)
from loophooks.spec._scenario import Fault, Resume, Scenario, Stage
from loophooks.spec._signatures import (
    HookSignatureError,
    HookSignatureWarning,
    is_overridden,
    overridden_hooks,
    register_base,
    render_signature,
    verify_callback,
    verify_datamodule,
    verify_module,
)
from loophooks.spec._table import ALL_STAGES, CALLBACK_HOOKS, HOOKS, SEED_HOOKS, STEP_OUTPUT, Group, Hook, Param
from loophooks.spec._trace import ANY, Call, GradMode, Target
from loophooks.spec._transfer import move_data_to_device
from loophooks.spec._version import SPEC_VERSION

__all__ = [
    "ALL_STAGES",
    "ANY",
    "CALLBACK_HOOKS",
    "HOOKS",
    "SEED_HOOKS",
    "SPEC_VERSION",
    "STEP_OUTPUT",
    "BatchHooks",
    "BatchTransferHooks",
    "Call",
    "Callback",
    "CheckpointHooks",
    "ConfigureCallbacks",
    "ConfigureModelHooks",
    "ConfigureOptimizers",
    "DataHooks",
    "DataLoaderHooks",
    "DataPreparationHooks",
    "EpochHooks",
    "EvalModeHooks",
    "Fault",
    "GradMode",
    "Group",
    "Hook",
    "HookContractError",
    "HookNotImplementedError",
    "HookSignatureError",
    "HookSignatureWarning",
    "ModelHooks",
    "OptimizationHooks",
    "OptimizationMethods",
    "Param",
    "PredictStep",
    "Resume",
    "Scenario",
    "Stage",
    "StageHooks",
    "Target",
    "TestStep",
    "TrainingStep",
    "ValidationStep",
    "check_args",
    "check_return",
    "checks_enabled",
    "describe",
    "is_overridden",
    "move_data_to_device",
    "overridden_hooks",
    "register_base",
    "render_signature",
    "set_checks",
    "verify_callback",
    "verify_datamodule",
    "verify_module",
]
