"""What a profiled run records: Lightning 2.6's actions, under Lightning's names, with Lightning's counts.

Only a run whose profiler is not the pass-through one gets any of this; an unprofiled
run wraps nothing and takes no branch here (the dispatcher and the loops are what they
are without a profiler). For a profiled run:

* **Hooks.** The dispatcher times every hook Lightning calls, a do-nothing default
  included (Lightning calls those too): every callback for every callback hook,
  every model hook except the ``override_only`` ones (``prepare_data``,
  ``configure_model``, ``on_validation_model_train``, ...), which Lightning calls only
  when overridden. The timed wrappers do not pass the default's identity through, so
  the loops take their general paths (no skipped transfer hook, no fused
  ``optimizer_step``): those call every hook, as Lightning does, with the same effect.
* **Names.** ``[LightningModule]Model.hook``, ``[Callback]state_key.hook``,
  ``[LightningDataModule]DataModule.hook``; the step methods and ``backward`` are the
  strategy's in Lightning (``[Strategy]SingleDeviceStrategy.training_step``).
* **The strategy's hooks.** Lightning calls ``on_train_start``, ``on_train_end``,
  ``on_train_batch_start``, ``on_{validation,test,predict}_{start,end}`` on the
  strategy right after the model's; they do nothing on one device, and neither does
  the engine, so they are recorded as empty actions right after the model's hook.
* **The loops** (:func:`instrument_run`): ``run_training_epoch`` (the epoch's
  batches), ``run_training_batch`` (one batch's optimization), the loaders' ``next``
  calls (``[_TrainingEpochLoop].train_dataloader_next``, ``[_EvaluationLoop].val_next``,
  ``[_EvaluationLoop].test_next``, ``[_PredictionLoop].predict_next``) and
  ``[Strategy]...batch_to_device`` (the three transfer hooks). These are set on the
  loop and data objects of the run, so an unprofiled run's objects keep their own
  methods.
"""

from __future__ import annotations

import functools
from types import MethodType
from typing import TYPE_CHECKING, Any, Callable, Optional

from loophooks.engine._data import END, BatchIterator
from loophooks.spec import HOOKS

if TYPE_CHECKING:
    from loophooks.engine._context import LoopContext
    from loophooks.engine._dispatch import Dispatcher
    from loophooks.engine._profilers import Profiler
    from loophooks.engine._state import LoopState

__all__ = ["Profiled", "instrument_run", "profile_callback_hooks", "profile_module_hooks", "strategy_prefix"]

_Fn = Callable[..., Any]

# Hooks Lightning runs as the strategy's, not the model's ("[Strategy]SingleDeviceStrategy.training_step").
_STRATEGY_HOOKS = frozenset({"training_step", "validation_step", "test_step", "predict_step"})

# Model hooks Lightning calls without timing them (the precision plugin calls model.backward directly); a
# profiled run still hides their identity, so the loops call them where Lightning times what is around them.
_UNTIMED_MODULE_HOOKS = frozenset({"backward"})

# Datamodule methods Lightning times whether or not the datamodule overrides them.
_DATAMODULE_ALWAYS = ("setup", "teardown", "state_dict", "load_state_dict", "on_exception")

# Model hooks after which Lightning calls the strategy's hook of the same name (trainer/call.py's
# _call_strategy_hook right after _call_lightning_module_hook).
_STRATEGY_FOLLOWS = frozenset(
    {
        "on_train_start",
        "on_train_end",
        "on_train_batch_start",
        "on_validation_start",
        "on_validation_end",
        "on_test_start",
        "on_test_end",
        "on_predict_start",
        "on_predict_end",
    }
)

# Callback hooks Lightning calls without timing them (checkpoint state goes through its own helpers).
_UNTIMED_CALLBACK_HOOKS = frozenset({"state_dict", "load_state_dict"})

# The action around a loader's next() in each stage's loop (Lightning's loop class names).
_NEXT_ACTION = {
    "train": "[_TrainingEpochLoop].train_dataloader_next",
    "sanity_check": "[_EvaluationLoop].val_next",
    "validate": "[_EvaluationLoop].val_next",
    "test": "[_EvaluationLoop].test_next",
    "predict": "[_PredictionLoop].predict_next",
}


def strategy_prefix(strategy: Any) -> str:
    """Lightning's action prefix for the strategy: the engine's one-device ``Strategy`` is Lightning's
    ``SingleDeviceStrategy``; subclasses (``DDPStrategy``) carry Lightning's names already."""
    name = type(strategy).__name__
    return f"[Strategy]{'SingleDeviceStrategy' if name == 'Strategy' else name}"


class Profiled:
    """A hook function timed under its action name, then (``then``) an empty action for the strategy's hook
    that Lightning calls next. ``__self__`` passes through (whose hook it is: monitoring callbacks are picked
    by it); ``__func__`` does not, so the dispatcher never takes it for a default that may be skipped."""

    __slots__ = ("action", "fn", "profiler", "then")

    def __init__(self, fn: _Fn, action: Optional[str], profiler: Profiler, then: Optional[str] = None) -> None:
        self.fn = fn
        self.action = action
        self.profiler = profiler
        self.then = then

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        action = self.action
        if action is None:
            return self.fn(*args, **kwargs)
        profiler = self.profiler
        profiler.start(action)
        try:
            result = self.fn(*args, **kwargs)
        finally:
            profiler.stop(action)
        if self.then is not None:
            profiler.start(self.then)
            profiler.stop(self.then)
        return result

    @property
    def __self__(self) -> Any:
        return getattr(self.fn, "__self__", None)


def _module_action(kind: str, owner: Any, hook: str, strategy: str) -> Optional[str]:
    if kind == "module" and hook in _UNTIMED_MODULE_HOOKS:
        return None
    if kind == "module" and hook in _STRATEGY_HOOKS:
        return f"{strategy}.{hook}"
    prefix = "LightningDataModule" if kind == "datamodule" else "LightningModule"
    return f"[{prefix}]{type(owner).__name__}.{hook}"


def profile_module_hooks(
    dispatcher: Dispatcher,
    profiler: Profiler,
    resolved: dict[str, Optional[_Fn]],
    resolved_dm: dict[str, Optional[_Fn]],
    data: dict[str, tuple[str, Optional[_Fn]]],
) -> tuple[dict[str, Optional[_Fn]], dict[str, Optional[_Fn]], dict[str, tuple[str, Optional[_Fn]]]]:
    """The dispatcher's model, datamodule and data-hook tables with every function Lightning calls timed:
    a hook the dispatcher left out for doing nothing gets the model's default back (``override_only``
    hooks stay as resolved)."""
    from loophooks.engine._module import LoopModule

    module, datamodule = dispatcher.module, dispatcher.datamodule
    strategy = strategy_prefix(dispatcher.trainer.strategy)

    def timed(fn: Optional[_Fn], kind: str, owner: Any, name: str) -> Optional[_Fn]:
        if fn is None:
            return None
        then = f"{strategy}.{name}" if kind == "module" and name in _STRATEGY_FOLLOWS else None
        return Profiled(fn, _module_action(kind, owner, name, strategy), profiler, then)

    mod: dict[str, Optional[_Fn]] = {}
    for name, fn in resolved.items():
        default = getattr(LoopModule, name, None)
        if fn is None and default is not None and not HOOKS[name].override_only:
            fn = getattr(module, name) if isinstance(module, LoopModule) else MethodType(default, module)
        mod[name] = timed(fn, "module", module, name)
    dm = {name: timed(fn, "datamodule", datamodule, name) for name, fn in resolved_dm.items()}
    for name in _DATAMODULE_ALWAYS if datamodule is not None else ():
        method = getattr(datamodule, name, None)
        if callable(method):
            dm[name] = timed(method, "datamodule", datamodule, name)
    owners = {"module": mod, "datamodule": dm}
    return mod, dm, {name: (owner, owners[owner][name]) for name, (owner, _) in data.items()}


def profile_callback_hooks(table: dict[str, tuple[_Fn, ...]], callbacks: list[Any], profiler: Profiler) -> None:
    """Set in ``table`` every callback's hook (Lightning calls the base class's no-op too), timed as
    ``[Callback]state_key.hook``; the hooks Lightning does not time keep what the dispatcher resolved."""
    for name in table:
        if name in _UNTIMED_CALLBACK_HOOKS:
            continue
        fns: list[_Fn] = []
        for cb in callbacks:
            fn = getattr(cb, name, None)
            if callable(fn):
                key = getattr(cb, "state_key", type(cb).__qualname__)
                fns.append(Profiled(fn, f"[Callback]{key}.{name}", profiler))
        table[name] = tuple(fns)


class _TimedBatches(BatchIterator):
    """A :class:`BatchIterator` whose ``next`` calls that return a batch are timed under the stage's action
    (the call that finds the loader exhausted is not: Lightning's loops stop before making it)."""

    __slots__ = ("_action", "_profiler")

    def __init__(self, loader: Any, limit: Any, skip: int = 0, *, state: LoopState, profiler: Profiler) -> None:
        action = self._action = _NEXT_ACTION[state.stage or "train"]
        self._profiler = profiler
        # An unsized loader's first batch is fetched ahead when the iterator is made; Lightning's training loop
        # times that fetch from its second epoch on (the first epoch's happens before its profiler hooks are set).
        ahead = limit == float("inf") and state.stage == "train" and state.epoch > 0 and not skip
        if ahead:
            profiler.start(action)
        try:
            super().__init__(loader, limit, skip)
        finally:
            if ahead:
                profiler.stop(action)

    def fetch(self) -> Any:  # next() goes through fetch() too
        if (self.count >= self.limit) if self._sized else not self._ahead:
            return END
        self._profiler.start(self._action)
        try:
            return super().fetch()
        finally:
            self._profiler.stop(self._action)


def _timed(fn: _Fn, action: str, profiler: Profiler) -> _Fn:
    def run(*args: Any, **kwargs: Any) -> Any:
        with profiler.profile(action):
            return fn(*args, **kwargs)

    return run


def instrument_run(ctx: LoopContext, loops: list[Any], profiler: Optional[Profiler]) -> None:
    """Set (``profiler`` given) or clear (None) the loop-level actions on the objects of this run.

    Called once per run with the loops it will run. Each override is an instance attribute wrapping the
    class's own method, so a second run does not wrap twice, and clearing leaves the objects as built.
    """
    from loophooks.engine._data_hooks import DataConnector
    from loophooks.engine._epoch_loop import TrainingEpochLoop
    from loophooks.engine._fit_loop import FitLoop
    from loophooks.engine._optimization import LoopOptimizer
    from loophooks.engine._trainer import Trainer

    strategy = ctx.strategy
    prefix = strategy_prefix(strategy)
    automatic = strategy.automatic
    # (object, attribute, the class's function, action, whether this run times it)
    timed: list[tuple[Any, str, _Fn, str, bool]] = []
    for loop in loops:
        if isinstance(loop, FitLoop):
            epoch = loop.epoch_loop
            timed.append((epoch, "run", TrainingEpochLoop.run, "run_training_epoch", True))
            timed.append((epoch, "_automatic", TrainingEpochLoop._automatic, "run_training_batch", True))
            timed.append((epoch, "_manual", TrainingEpochLoop._manual, "run_training_batch", True))
    # Lightning times save_checkpoint wherever it is called, the strategy's backward in automatic optimization
    # only (manual_backward calls it untimed), and each optimizer step in manual optimization
    timed.append((ctx.trainer, "save_checkpoint", Trainer.save_checkpoint, "save_checkpoint", True))
    timed.append((strategy, "backward", type(strategy).backward, f"{prefix}.backward", automatic))
    timed += [(o, "step", LoopOptimizer.step, "optimizer_step", not automatic) for o in strategy.loop_optimizers]
    timed.append((ctx.data, "transfer", DataConnector.transfer_batch, f"{prefix}.batch_to_device", True))
    batches = None if profiler is None else functools.partial(_TimedBatches, state=ctx.state, profiler=profiler)
    overrides: list[tuple[Any, str, Optional[_Fn]]] = []
    for loop in loops:
        overrides.append((loop, "batches", batches))
        if isinstance(loop, FitLoop):
            overrides.append((loop.val_loop, "batches", batches))
    for obj, attr, function, action, wanted in timed:
        fn = _timed(MethodType(function, obj), action, profiler) if profiler is not None and wanted else None
        overrides.append((obj, attr, fn))
    for obj, attr, fn in overrides:
        if fn is not None:
            setattr(obj, attr, fn)
        elif attr == "transfer":  # a slot: back to the plain method
            setattr(obj, attr, MethodType(DataConnector.transfer_batch, obj))
        elif attr in vars(obj):
            delattr(obj, attr)
