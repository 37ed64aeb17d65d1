"""The one place where the engine calls hooks.

For every run the dispatcher resolves, once, which function answers each hook of
the spec's table (``loophooks.spec.HOOKS`` for the model and datamodule,
``CALLBACK_HOOKS`` for callbacks):

* the model's own method, or else the default from :class:`LoopModule` bound to
  the model; hooks marked ``override_only`` resolve to nothing unless overridden;
* for each callback, its method when its class defines the hook (callbacks that
  keep a do-nothing default are left out, so they cost nothing);
* a resolved function whose body does nothing (``pass`` or ``...``) is dropped.

An unchecked call is then a dict lookup and a plain call, with the running hook's
name kept in ``LoopState.hook`` for error notes and restored in ``finally``. With
checks on (``Trainer(check_hooks=True)`` or ``LOOPHOOKS_CHECKS=1``) the spec's
``check_args`` and ``check_return`` run around each call.

Ordering rule, written once here: for a hook both have, callbacks run first, then
the model. Exceptions (Lightning's): ``setup``/``teardown`` run datamodule,
callbacks, model; ``on_load_checkpoint`` runs the model first, then callbacks;
``on_train_epoch_end`` runs ordinary callbacks, the model, then monitoring
callbacks (checkpointing, early stopping). Callers pick the matching method.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MethodType
from typing import TYPE_CHECKING, Any, Callable, Optional

from typing_extensions import final

from loophooks.engine._errors import ConfigurationError, add_note
from loophooks.engine._inspect import STEPS, does_nothing, loader_idx_arguments, step_arguments
from loophooks.engine._module import LoopModule
from loophooks.engine._profiler_actions import profile_callback_hooks, profile_module_hooks
from loophooks.engine._profilers import PassThroughProfiler, Profiler
from loophooks.engine._state import LoopState
from loophooks.spec import CALLBACK_HOOKS, HOOKS, check_args, check_return
from loophooks.spec import is_overridden as spec_is_overridden
from loophooks.spec._hook_names import HookName

if TYPE_CHECKING:
    from loophooks.spec import Hook

__all__ = ["Dispatcher", "is_overridden"]

_Fn = Callable[..., Any]


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
        "_checked",
        "_data",
        "_dm",
        "_hooks",
        "_cb_hooks",
        "_mod",
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
        self._hooks, self._cb_hooks = HOOKS, CALLBACK_HOOKS
        self._checked = (check_args, check_return) if checks else None  # and a profiler, pass-through: no wrapper
        self._profiler = None if profiler is None or isinstance(profiler, PassThroughProfiler) else profiler
        self._mod: dict[str, Optional[_Fn]] = {}
        self._dm: dict[str, Optional[_Fn]] = {}
        self._data: dict[str, tuple[str, Optional[_Fn]]] = {}
        self._cb: dict[str, tuple[_Fn, ...]] = {}
        self._takes_idx: dict[str, bool] = {}
        self.active: frozenset[str] = frozenset()
        """Hooks that do something for this run (a callback or the model answers them). The loops test
        ``name in d.active`` before the per-batch hooks, so a hook nobody implements costs no call."""
        self._resolve()

    # --- resolution, once per run ------------------------------------------------------------------
    def _resolve(self) -> None:
        module = self.module
        for name, hook in self._hooks.items():
            self._mod[name] = self._resolve_module(module, name, hook.override_only)
        dm = self.datamodule
        for name, hook in self._hooks.items():
            if dm is not None and hook.datamodule and is_overridden(dm, name):
                self._dm[name] = getattr(dm, name)
            else:
                self._dm[name] = None
        # Data hooks go to the datamodule when it overrides them, else to the model (Lightning's rule).
        for name, hook in self._hooks.items():
            if hook.group == "data" or name in ("on_save_checkpoint", "on_load_checkpoint"):
                dm_fn = self._dm[name]
                if dm_fn is not None and hook.group == "data":
                    self._data[name] = ("datamodule", dm_fn)
                else:
                    self._data[name] = ("module", self._mod[name])
        if self._profiler is not None:  # engine/_profiler_actions.py: every hook Lightning calls, timed
            self._mod, self._dm, self._data = profile_module_hooks(
                self, self._profiler, self._mod, self._dm, self._data
            )
        self.resolve_callbacks(self.callbacks)
        for step in STEPS:
            self._takes_idx[step] = step_arguments(getattr(module, step, None))

    def resolve_callbacks(self, callbacks: list[Any]) -> None:
        """(Re)build the callback side, after ``configure_callbacks`` changed the list."""
        self.callbacks = callbacks
        for name in self._cb_hooks:
            fns: list[_Fn] = []
            for cb in callbacks:
                if not is_overridden(cb, name):
                    continue
                fn = getattr(cb, name)
                if name not in ("state_dict",) and does_nothing(fn):
                    continue
                fns.append(fn)
            self._cb[name] = tuple(fns)
        if self._profiler is not None:  # engine/_profiler_actions.py: every callback's hook, as Lightning calls it
            profile_callback_hooks(self._cb, callbacks, self._profiler)
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
        if default is None or does_nothing(default):  # None: a step method the model lacks (the loop checks first)
            return None
        if isinstance(module, LoopModule):
            return getattr(module, name)  # type: ignore[no-any-return]
        return MethodType(default, module)

    # --- queries -------------------------------------------------------------------------------------
    def has(self, name: HookName) -> bool:
        """Whether the model answers ``name`` (overridden, or a default that does something)."""
        return self._mod.get(name) is not None

    def is_default(self, name: HookName, identity: bool) -> bool:
        """Whether the model's ``name`` is missing, or the default that hands its first argument back
        unchanged (``identity``): the loop may then skip the call, which changes nothing."""
        fn = self._mod.get(name)
        if fn is None:
            return True
        return identity and getattr(fn, "__func__", None) is _default(name)

    def is_builtin_default(self, name: HookName) -> bool:
        """Whether the model's ``name`` resolved to :class:`LoopModule`'s default (or to nothing)."""
        fn = self._mod.get(name)
        return fn is None or getattr(fn, "__func__", None) is _default(name)

    @property
    def checks_off(self) -> bool:
        """Whether this run calls hooks without the spec's checks."""
        return self._checked is None

    def overridden(self, name: HookName) -> bool:
        return is_overridden(self.module, name)

    def data_owner(self, name: HookName) -> str:
        return self._data[name][0]

    def callbacks_with(self, name: HookName) -> tuple[_Fn, ...]:
        return self._cb[name]

    # --- calling conventions of the step methods (resolved once per run) ----------------------------
    def takes_batch_idx(self, step: str) -> bool:
        """Whether the model's ``step`` accepts ``batch_idx`` (Lightning passes it only then)."""
        return self._takes_idx[step]

    def check_loader_idx(self, step: str, multi: bool) -> None:
        """Lightning's check before an evaluation loop, on the step and the model's batch hooks.

        With several loaders each must take ``dataloader_idx`` (or ``*args``); with one, it is not
        passed, so none may require it (a default, ``dataloader_idx=0``, is fine).
        """
        module = self.module
        kind = step[: -len("_step")]
        for name in (step, f"on_{kind}_batch_start", f"on_{kind}_batch_end"):
            fn = getattr(module, name, None)
            if fn is None or (name != step and not is_overridden(module, name)):
                continue
            accepts, requires = loader_idx_arguments(fn)
            owner = f"{type(module).__name__}.{name}"
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
        if self._checked is not None:
            return self._call_checked(self._hooks[name], fn, "module", args, kwargs)
        state = self.state
        prev = state.hook
        state.hook = name
        try:
            return fn(*args, **kwargs)
        except BaseException as exc:
            add_note(exc, f"model hook {name} at {state.where()}")
            raise
        finally:
            state.hook = prev

    def callback_hooks(self, name: HookName, *args: Any, monitoring: Optional[bool] = None) -> None:
        """Call ``name`` on every callback that has it, in list order.

        ``monitoring`` picks a subset for ``on_train_epoch_end``: False for ordinary
        callbacks, True for checkpointing and early stopping, None for all.
        """
        fns = self._cb[name]
        if not fns:
            return
        trainer = self.trainer
        module = self.module
        state = self.state
        prev = state.hook
        state.hook = name
        try:
            for fn in fns:
                if monitoring is not None and _is_monitoring(fn) is not monitoring:
                    continue
                if self._checked is not None:
                    self._call_checked(self._cb_hooks[name], fn, "callback", (trainer, module, *args), {})
                else:
                    fn(trainer, module, *args)
        except BaseException as exc:
            add_note(exc, f"callback hook {name} at {state.where()}")
            raise
        finally:
            state.hook = prev

    def call_callback(self, name: HookName, fn: _Fn, *args: Any) -> Any:
        """Call one callback's ``name`` (``fn``, from :meth:`callbacks_with`), checked like the others."""
        return self._call_other(name, fn, "callback", (self.trainer, self.module, *args))

    def callback_state_dicts(self) -> dict[str, Any]:
        """Every callback's non-empty ``state_dict()``, keyed by its ``state_key`` (for a checkpoint)."""
        states: dict[str, Any] = {}
        for cb in self.callbacks:
            fn = getattr(cb, "state_dict", None)
            if fn is None or not callable(fn):
                continue
            state = self._call_other("state_dict", fn, "callback", ())
            if state:
                states[getattr(cb, "state_key", type(cb).__qualname__)] = state
        return states

    def callback_load_state_dicts(self, states: Mapping[str, Any]) -> None:
        """Hand each callback its state from a checkpoint (a copy, so the checkpoint stays intact)."""
        import copy

        for cb in self.callbacks:
            state = states.get(getattr(cb, "state_key", type(cb).__qualname__))
            fn = getattr(cb, "load_state_dict", None)
            if state and fn is not None and callable(fn):
                self._call_other("load_state_dict", fn, "callback", (copy.deepcopy(state),))

    def hook(self, name: HookName, *args: Any) -> Any:
        """Callbacks first, then the model; returns the model's result."""
        if self._cb[name]:
            self.callback_hooks(name, *args)
        fn = self._mod[name]
        if fn is None:
            return None
        if self._checked is not None:
            return self._call_checked(self._hooks[name], fn, "module", args, {})
        # module_hook's body, inlined: this path runs several times per training batch
        state = self.state
        prev = state.hook
        state.hook = name
        try:
            return fn(*args)
        except BaseException as exc:
            add_note(exc, f"model hook {name} at {state.where()}")
            raise
        finally:
            state.hook = prev

    def data_hook(self, name: HookName, *args: Any) -> Any:
        """A data hook, answered by the datamodule when it overrides it, else by the model."""
        owner, fn = self._data[name]
        if owner == "module":
            fn = self._mod[name]
            if fn is None or self._checked is not None:
                return self.module_hook(name, *args)
            state = self.state
            prev = state.hook
            state.hook = name
            try:
                return fn(*args)
            except BaseException as exc:
                add_note(exc, f"model hook {name} at {state.where()}")
                raise
            finally:
                state.hook = prev
        assert fn is not None
        return self._call_other(name, fn, "datamodule", args)

    def datamodule_hook(self, name: HookName, *args: Any, **kwargs: Any) -> Any:
        fn = self._dm.get(name)
        if fn is None:
            dm = self.datamodule
            # Hooks outside the table that datamodules may have (state_dict, load_state_dict, on_exception).
            fn = getattr(dm, name, None) if dm is not None and name not in self._hooks else None
            if fn is None or not callable(fn):
                return None
        return self._call_other(name, fn, "datamodule", args, kwargs)

    def _call_other(
        self, name: str, fn: _Fn, target: str, args: tuple[Any, ...], kwargs: dict[str, Any] | None = None
    ) -> Any:
        kwargs = kwargs or {}
        if self._checked is not None:
            table = self._cb_hooks if target == "callback" else self._hooks
            if name in table:
                return self._call_checked(table[name], fn, target, args, kwargs)
        state = self.state
        prev = state.hook
        state.hook = name
        try:
            return fn(*args, **kwargs)
        except BaseException as exc:
            add_note(exc, f"{target} hook {name} at {state.where()}")
            raise
        finally:
            state.hook = prev

    def _call_checked(self, hook: Hook, fn: _Fn, target: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        assert self._checked is not None
        check_args, check_return = self._checked
        owner = getattr(fn, "__self__", fn)
        bound = dict(zip((p.name for p in hook.params), args))
        bound.update(kwargs)
        state = self.state
        prev = state.hook
        state.hook = hook.name
        try:
            check_args(hook, bound, owner=owner)
            value = fn(*args, **kwargs)
            if target != "callback":
                check_return(hook, value, owner=owner)
            return value
        except BaseException as exc:
            add_note(exc, f"{target} hook {hook.name} at {state.where()}")
            raise
        finally:
            state.hook = prev


def _is_monitoring(fn: _Fn) -> bool:
    from loophooks.engine._callbacks import is_monitoring_callback

    return is_monitoring_callback(getattr(fn, "__self__", None))
