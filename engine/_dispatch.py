"""The one place where the engine calls hooks.

For every run the dispatcher resolves, once, which function answers each hook of
the spec's tables (``loophooks.spec.HOOKS`` for the model, ``DATAMODULE_HOOKS`` for
the datamodule, ``CALLBACK_HOOKS`` for callbacks):

* the model's own method, or else the default from :class:`LoopModule` bound to
  the model; hooks marked ``override_only`` resolve to nothing unless overridden;
  a default whose body does nothing (``pass`` or ``...``) resolves to nothing;
* the datamodule's method for each hook of ``DATAMODULE_HOOKS`` it overrides (no
  other method of a datamodule is ever called);
* for each callback, its method when its class defines the hook (callbacks that
  keep a do-nothing default are left out, so they cost nothing).

Each resolved function is then wrapped, once, in the engine's one calling
convention (engine/_calling.py: the running hook's name in ``LoopState.hook``,
the spec's compiled checks when checks are on, a note on errors, the name
restored in ``finally``); in a plain run (no checks, no profiler) the hot entry
points run that convention inline, so a call is a dict lookup and the hook's own
frame. Checks are on with ``Trainer(check_hooks=True)`` or ``LOOPHOOKS_CHECKS=1``.

Who hears a hook, and in what order, is the table's (``loophooks.spec.CALLERS``,
``Hook.callers``): :meth:`Dispatcher.event` follows it for any hook; :meth:`Dispatcher.hook`
is its common case (callbacks, then the model) and hands the others to ``event``
(``on_train_epoch_end``: ordinary callbacks, the model, then monitoring callbacks).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MethodType
from typing import Any, Callable, Optional

from typing_extensions import final

from loophooks.engine._calling import Target, ready
from loophooks.engine._errors import ConfigurationError, add_note
from loophooks.engine._inspect import STEPS, does_nothing, loader_idx_arguments, step_arguments
from loophooks.engine._module import LoopModule
from loophooks.engine._profiler_actions import profile_callback_hooks, profile_module_hooks
from loophooks.engine._profilers import PassThroughProfiler, Profiler
from loophooks.engine._state import LoopState
from loophooks.spec import CALLBACK_HOOKS, CALLERS, DATAMODULE_HOOKS, HOOKS
from loophooks.spec._checks import call_checks
from loophooks.spec import is_overridden as spec_is_overridden
from loophooks.spec._hook_names import HookName, hook_name

__all__ = ["Dispatcher", "is_overridden"]

_Fn = Callable[..., Any]
_TABLES = {"module": HOOKS, "datamodule": DATAMODULE_HOOKS, "callback": CALLBACK_HOOKS}
_CALLBACKS_FIRST = {("callbacks", "module"), ("module",), ("callbacks",)}
_OWN_ORDER = frozenset(name for name, callers in CALLERS.items() if callers not in _CALLBACKS_FIRST)
"""Hooks whose callers hear them in another order than callbacks, then the model: :meth:`Dispatcher.event`."""


def _default(name: str) -> Any:
    """LoopModule's implementation of ``name``: its own, or the spec's default it inherits."""
    return getattr(LoopModule, name, None)


def is_overridden(obj: object, name: str) -> bool:
    """Whether ``obj`` defines ``name`` itself rather than inheriting a default (the spec's rule)."""
    return spec_is_overridden(obj, name) and callable(getattr(obj, name, None))


@final
class Dispatcher:
    """Calls hooks on the model, the datamodule and the callbacks of one run."""

    __slots__ = (
        "_cb",
        "_cb_fns",
        "_checks",
        "_data",
        "_dm",
        "_fn",
        "_loader_idx",
        "_mod",
        "_plain",
        "_profiler",
        "_takes_idx",
        "active",
        "callbacks",
        "datamodule",
        "module",
        "state",
        "trainer",
    )

    def __init__(
        self,
        trainer: Any,
        module: Any,
        callbacks: list[Any],
        datamodule: Any | None,
        state: LoopState,
        *,
        checks: bool,
        profiler: Optional[Profiler] = None,
    ) -> None:
        self.trainer = trainer
        self.module = module
        self.callbacks = callbacks
        self.datamodule = datamodule
        self.state = state
        self._checks = checks
        self._profiler = None if profiler is None or isinstance(profiler, PassThroughProfiler) else profiler
        # Unchecked and unprofiled, the hot entry points (module_hook, hook, callback_hooks) run the calling
        # convention inline around the raw functions: one frame less per call than through ready()'s closure.
        self._plain = not checks and self._profiler is None
        self._fn: dict[str, Optional[_Fn]] = {}  # the model's resolved functions (what the queries look at)
        self._mod: dict[str, Optional[_Fn]] = {}  # the same, ready to call (raw in a plain run, see _plain)
        self._dm: dict[str, Optional[_Fn]] = {}
        self._data: dict[str, tuple[str, Optional[_Fn]]] = {}
        self._cb_fns: dict[str, tuple[_Fn, ...]] = {}
        self._cb: dict[str, tuple[_Fn, ...]] = {}
        self._takes_idx: dict[str, bool] = {}
        self._loader_idx: dict[str, tuple[tuple[str, bool, bool], ...]] = {}
        self.active: frozenset[str] = frozenset()
        """Hooks that do something for this run (a callback or the model answers them). The loops test
        ``name in d.active`` before the per-batch hooks, so a hook nobody implements costs no call."""
        self._resolve()

    # --- resolution, once per run ------------------------------------------------------------------
    def _ready(self, fn: Optional[_Fn], name: str, target: Target) -> Optional[_Fn]:
        """``fn`` (profiled when a profiler runs) in the calling convention, checked against ``target``'s table."""
        if fn is None:
            return None
        hook = _TABLES[target].get(name) if self._checks else None
        return ready(fn, hook_name(name), target, self.state, None if hook is None else call_checks(hook))

    def _hot(self, fn: Optional[_Fn], name: str, target: Target) -> Optional[_Fn]:
        """What a hot entry point holds: the raw function in a plain run (it inlines the convention), else
        :meth:`_ready`'s."""
        return fn if self._plain else self._ready(fn, name, target)

    def _resolve(self) -> None:
        module, dm = self.module, self.datamodule
        fns = {name: self._resolve_module(module, name, hook.override_only) for name, hook in HOOKS.items()}
        dm_fns = {
            name: getattr(dm, name) if dm is not None and is_overridden(dm, name) else None for name in DATAMODULE_HOOKS
        }
        # Data hooks go to the datamodule when it overrides them, else to the model (Lightning's rule).
        data = {
            name: ("datamodule", dm_fns[name]) if dm_fns.get(name) is not None else ("module", fns[name])
            for name, hook in HOOKS.items()
            if hook.group == "data"
        }
        if self._profiler is not None:  # engine/_profiler_actions.py: every hook Lightning calls, timed
            fns, dm_fns, data = profile_module_hooks(self, self._profiler, fns, dm_fns, data)
        self._fn = fns
        self._mod = {name: self._hot(fn, name, "module") for name, fn in fns.items()}
        self._dm = {name: self._ready(fn, name, "datamodule") for name, fn in dm_fns.items()}
        self._data = {name: (owner, self._ready(fn, name, owner)) for name, (owner, fn) in data.items()}  # type: ignore[arg-type]
        self.resolve_callbacks(self.callbacks)
        for step in STEPS:
            self._takes_idx[step] = step_arguments(getattr(module, step, None))
        self._loader_idx = {step: self._loader_idx_arguments(step) for step in STEPS[1:]}

    def resolve_callbacks(self, callbacks: list[Any]) -> None:
        """(Re)build the callback side, after ``configure_callbacks`` changed the list."""
        self.callbacks = callbacks
        for name in CALLBACK_HOOKS:
            fns: list[_Fn] = []
            for cb in callbacks:
                if not is_overridden(cb, name):
                    continue
                fn = getattr(cb, name)
                if name not in ("state_dict",) and does_nothing(fn):
                    continue
                fns.append(fn)
            self._cb_fns[name] = tuple(fns)
        if self._profiler is not None:  # engine/_profiler_actions.py: every callback's hook, as Lightning calls it
            profile_callback_hooks(self._cb_fns, callbacks, self._profiler)
        self._cb = {name: tuple(self._hot(fn, name, "callback") for fn in fns) for name, fns in self._cb_fns.items()}  # type: ignore[misc]
        self.active = frozenset(
            name for name in set(self._mod) | set(self._cb) if self._mod.get(name) is not None or self._cb.get(name)
        )

    @staticmethod
    def _resolve_module(module: Any, name: str, override_only: bool) -> Optional[_Fn]:
        if is_overridden(module, name):
            return getattr(module, name)  # type: ignore[no-any-return]
        if override_only:
            return None
        default = _default(name)
        if default is None:
            # A step method the model lacks: the loop checks for it before it needs it.
            return None
        if does_nothing(default):
            return None
        if isinstance(module, LoopModule):
            return getattr(module, name)  # type: ignore[no-any-return]
        return MethodType(default, module)

    def _loader_idx_arguments(self, step: str) -> tuple[tuple[str, bool, bool], ...]:
        """For an evaluation step and the model's batch hooks of its loop: who, accepts and requires dataloader_idx."""
        module = self.module
        kind = step[: -len("_step")]
        found = []
        for name in (step, f"on_{kind}_batch_start", f"on_{kind}_batch_end"):
            fn = getattr(module, name, None)
            if fn is None or (name != step and not is_overridden(module, name)):
                continue
            found.append((f"{type(module).__name__}.{name}", *loader_idx_arguments(fn)))
        return tuple(found)

    # --- queries -------------------------------------------------------------------------------------
    def has(self, name: HookName) -> bool:
        """Whether the model answers ``name`` (overridden, or a default that does something)."""
        return self._fn.get(name) is not None

    def is_default(self, name: HookName, identity: bool) -> bool:
        """Whether the model's ``name`` is missing, or the default that hands its first argument back
        unchanged (``identity``): the loop may then skip the call, which changes nothing."""
        fn = self._fn.get(name)
        if fn is None:
            return True
        return identity and getattr(fn, "__func__", None) is _default(name)

    def is_builtin_default(self, name: HookName) -> bool:
        """Whether the model's ``name`` resolved to :class:`LoopModule`'s default (or to nothing)."""
        fn = self._fn.get(name)
        return fn is None or getattr(fn, "__func__", None) is _default(name)

    @property
    def checks_off(self) -> bool:
        """Whether this run calls hooks without the spec's checks."""
        return not self._checks

    def overridden(self, name: HookName) -> bool:
        return is_overridden(self.module, name)

    def data_owner(self, name: HookName) -> str:
        return self._data[name][0]

    def callbacks_with(self, name: HookName) -> tuple[_Fn, ...]:
        return self._cb_fns[name]

    def raw(self, name: HookName) -> Optional[_Fn]:
        """In a plain run (no checks, no profiler), the model's ``name`` itself, for a loop that runs the calling
        convention inline around it on a path no callback hears (the straight-line batch, engine/_fused_step.py);
        None otherwise, and for a hook the model leaves out."""
        return self._fn[name] if self._plain else None

    # --- calling conventions of the step methods (resolved once per run) ----------------------------
    def takes_batch_idx(self, step: str) -> bool:
        """Whether the model's ``step`` accepts ``batch_idx`` (Lightning passes it only then)."""
        return self._takes_idx[step]

    def check_loader_idx(self, step: str, multi: bool) -> None:
        """Lightning's check before an evaluation loop, on the step and the model's batch hooks.

        With several loaders each must take ``dataloader_idx`` (or ``*args``); with one, it is not
        passed, so none may require it (a default, ``dataloader_idx=0``, is fine).
        """
        for owner, accepts, requires in self._loader_idx[step]:
            if multi and not accepts:
                raise ConfigurationError(f"{owner} must accept dataloader_idx: there are several loaders")
            if not multi and requires:
                raise ConfigurationError(
                    f"{owner} requires dataloader_idx, which the loop passes only when there are several"
                    " loaders; there is one: give it a default (`dataloader_idx: int = 0`) or leave it out"
                )

    # --- calls ---------------------------------------------------------------------------------------
    def module_hook(self, name: HookName, *args: Any, **kwargs: Any) -> Any:
        """Call the model's ``name`` (or its default); returns what it returns."""
        fn = self._mod[name]
        if fn is None:
            return None
        if not self._plain:
            return fn(*args, **kwargs)  # ready()'s closure: checks, profiling and the convention
        state = self.state  # the convention (engine/_calling.py), inlined for a plain run
        prev = state.hook
        state.hook = name
        try:
            return fn(*args, **kwargs) if kwargs else fn(*args)
        except BaseException as exc:
            add_note(exc, f"model hook {name} at {state.where()}")
            raise
        finally:
            state.hook = prev

    def hook(self, name: HookName, *args: Any) -> Any:
        """Callbacks first, then the model; returns the model's result. A hook the table orders otherwise
        (``CALLERS``) goes to :meth:`event`."""
        if name in _OWN_ORDER:
            return self.event(name, *args)
        if self._cb[name]:
            self.callback_hooks(name, *args)
        fn = self._mod[name]
        if fn is None:
            return None
        if not self._plain:
            return fn(*args)
        state = self.state  # module_hook's body, inlined: this path runs several times per training batch
        prev = state.hook
        state.hook = name
        try:
            return fn(*args)
        except BaseException as exc:
            add_note(exc, f"model hook {name} at {state.where()}")
            raise
        finally:
            state.hook = prev

    def event(self, name: HookName, *args: Any, **kwargs: Any) -> Any:
        """``name`` for everyone who hears it, in the table's order (``loophooks.spec.CALLERS``); returns the
        model's result. Callbacks get the arguments positionally after ``(trainer, pl_module)``; the model
        and the datamodule get them as given (``setup(stage=...)``)."""
        callers = CALLERS[name]
        result = None
        for caller in callers:
            if caller == "module":
                result = self.module_hook(name, *args, **kwargs)
            elif caller == "datamodule":
                self.datamodule_hook(name, *args, **kwargs)
            elif caller == "datamodule_or_module":
                result = self.data_hook(name, *args, *kwargs.values())
            else:  # callbacks: the ordinary ones only where monitoring callbacks hear it on their own
                monitoring = caller == "monitoring_callbacks" if "monitoring_callbacks" in callers else None
                self.callback_hooks(name, *args, *kwargs.values(), monitoring=monitoring)
        return result

    def callback_hooks(self, name: HookName, *args: Any, monitoring: Optional[bool] = None) -> None:
        """Call ``name`` on every callback that has it, in list order.

        ``monitoring`` picks a subset for ``on_train_epoch_end``: False for ordinary
        callbacks, True for checkpointing and early stopping, None for all.
        """
        fns = self._cb[name]
        if not fns:
            return
        if monitoring is not None:
            fns = tuple(f for f, raw in zip(fns, self._cb_fns[name]) if _is_monitoring(raw) is monitoring)
        trainer, module = self.trainer, self.module
        if not self._plain:
            for call in fns:  # ready()'s closures
                call(trainer, module, *args)
            return
        state = self.state  # the convention, inlined for a plain run: once for all the callbacks
        prev = state.hook
        state.hook = name
        try:
            for fn in fns:
                fn(trainer, module, *args)
        except BaseException as exc:
            add_note(exc, f"callback hook {name} at {state.where()}")
            raise
        finally:
            state.hook = prev

    def call_callback(self, name: HookName, fn: _Fn, *args: Any) -> Any:
        """Call one callback's ``name`` (``fn``, from :meth:`callbacks_with`), checked like the others."""
        call = self._ready(fn, name, "callback")
        assert call is not None
        return call(self.trainer, self.module, *args)

    def callback_state_dicts(self) -> dict[str, Any]:
        """Every callback's non-empty ``state_dict()``, keyed by its ``state_key`` (for a checkpoint)."""
        states: dict[str, Any] = {}
        for cb in self.callbacks:
            fn = getattr(cb, "state_dict", None)
            call = self._ready(fn, "state_dict", "callback") if callable(fn) else None
            if call is None:
                continue
            state = call()
            if state:
                states[getattr(cb, "state_key", type(cb).__qualname__)] = state
        return states

    def callback_load_state_dicts(self, states: Mapping[str, Any]) -> None:
        """Hand each callback its state from a checkpoint (a copy, so the checkpoint stays intact)."""
        import copy

        for cb in self.callbacks:
            state = states.get(getattr(cb, "state_key", type(cb).__qualname__))
            fn = getattr(cb, "load_state_dict", None)
            call = self._ready(fn, "load_state_dict", "callback") if state and callable(fn) else None
            if call is not None:
                call(copy.deepcopy(state))

    def data_hook(self, name: HookName, *args: Any) -> Any:
        """A data hook, answered by the datamodule when it overrides it, else by the model."""
        call = self._data[name][1]
        return None if call is None else call(*args)

    def datamodule_hook(self, name: HookName, *args: Any, **kwargs: Any) -> Any:
        """The datamodule's ``name`` (a hook of ``DATAMODULE_HOOKS``) when it has one; None otherwise."""
        call = self._dm[name]
        return None if call is None else call(*args, **kwargs)


def _is_monitoring(fn: _Fn) -> bool:
    from loophooks.engine._callbacks import is_monitoring_callback

    return is_monitoring_callback(getattr(fn, "__self__", None))
