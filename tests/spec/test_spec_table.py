"""The hook table agrees with the seed document and with the Protocols."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any, Optional, get_type_hints

import pytest
import torch
from torch import Tensor
from torch.optim import Optimizer

import loophooks.spec as spec
from loophooks.spec import CALLBACK_HOOKS, HOOKS, SEED_HOOKS, STEP_OUTPUT

SEED = Path(__file__).resolve().parents[2].parent / "shared" / "seed" / "lightning-core-hooks.txt"

# The seed's annotations, spelled as the seed spells them (white space removed), and what they mean.
SEED_TYPES: dict[str, Any] = {
    "Any": Any,
    "int": int,
    "str": str,
    "None": None,
    "Tensor": Tensor,
    "Optimizer": Optimizer,
    "torch.device": torch.device,
    "Optional[int]": Optional[int],
    "Optional[Any]": Optional[Any],
    "STEP_OUTPUT": STEP_OUTPUT,
    "dict[str,Any]": dict[str, Any],
    # Lightning aliases these to Any ("an iterable or collection of iterables"); the spec says Iterable.
    "TRAIN_DATALOADERS": spec.TRAIN_DATALOADERS,
    "EVAL_DATALOADERS": spec.EVAL_DATALOADERS,
}


def seed_hooks() -> dict[str, tuple[str, list[tuple[str, str, str | None]], str]]:
    """Parse the seed: {hook: (class, [(param, annotation, default)], return annotation)}."""
    if not SEED.exists():
        pytest.skip(f"the seed document is not at {SEED}")
    text = SEED.read_text()
    hooks: dict[str, tuple[str, list[tuple[str, str, str | None]], str]] = {}
    cls = ""
    for match in re.finditer(r"class(\w+):|def(\w+)\(self,?(.*?)\)->(.*?):(?=\"|r\"|\w|#)", text):
        if match.group(1):
            cls = match.group(1)
            continue
        name, raw_params, returns = match.group(2), match.group(3), match.group(4)
        if name == "__init__":
            continue
        params = []
        for raw in filter(None, raw_params.split(",") if "[" not in raw_params else _split(raw_params)):
            pname, _, rest = raw.partition(":")
            ann, _, default = rest.partition("=")
            params.append((pname, ann, default or None))
        hooks[name] = (cls, params, returns)
    return hooks


def _split(raw: str) -> list[str]:
    """Split a parameter list on the commas that are not inside brackets."""
    parts, depth, current = [], 0, ""
    for ch in raw:
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def test_every_seed_hook_is_in_the_table_with_the_seed_signature() -> None:
    seed = seed_hooks()
    by_class: dict[str, set[str]] = {}
    for name, (cls, _, _) in seed.items():
        by_class.setdefault(cls, set()).add(name)
    assert {k: len(v) for k, v in by_class.items()} == {"ModelHooks": 38, "DataHooks": 10, "CheckpointHooks": 2}
    assert set(seed) == set(SEED_HOOKS)
    for name, (cls, params, returns) in seed.items():
        hook = HOOKS[name]
        assert hook.group == {"ModelHooks": "model", "DataHooks": "data", "CheckpointHooks": "checkpoint"}[cls]
        assert [p.name for p in hook.params] == [p for p, _, _ in params], name
        for param, (_, ann, default) in zip(hook.params, params):
            assert param.annotation == SEED_TYPES[ann], (name, param.name)
            assert param.required == (default is None), (name, param.name)
            if default is not None:
                assert repr(param.default) == default
        assert hook.returns == SEED_TYPES[returns], name


def test_data_hooks_carry_the_seed_attributes() -> None:
    assert spec.DataHooks.prepare_data_per_node is True
    assert spec.DataHooks.allow_zero_length_dataloader_with_multiple_devices is False


PROTOCOL_OF_GROUP = {
    "model": spec.ModelHooks,
    "data": spec.DataHooks,
    "checkpoint": spec.CheckpointHooks,
}
STEP_PROTOCOLS = {
    "training_step": spec.TrainingStep,
    "validation_step": spec.ValidationStep,
    "test_step": spec.TestStep,
    "predict_step": spec.PredictStep,
    "configure_optimizers": spec.ConfigureOptimizers,
    "configure_callbacks": spec.ConfigureCallbacks,
}


def _protocol_for(hook: spec.Hook) -> type:
    if hook.group in PROTOCOL_OF_GROUP:
        return PROTOCOL_OF_GROUP[hook.group]
    return STEP_PROTOCOLS.get(hook.name, spec.OptimizationMethods)


def _assert_same_signature(cls: type, hook: spec.Hook) -> None:
    method = getattr(cls, hook.name)
    hints = get_type_hints(method)
    params = list(inspect.signature(method).parameters.values())[1:]
    assert [p.name for p in params] == list(hook.param_names), hook.name
    for got, want in zip(params, hook.params):
        assert hints[got.name] == want.annotation, (hook.name, got.name)
        if want.required:
            assert got.default is inspect.Parameter.empty, (hook.name, got.name)
        else:
            assert got.default == want.default, (hook.name, got.name)
    assert hints["return"] == (type(None) if hook.returns is None else hook.returns), hook.name


@pytest.mark.parametrize("name", list(HOOKS))
def test_protocol_signature_matches_table(name: str) -> None:
    hook = HOOKS[name]
    _assert_same_signature(_protocol_for(hook), hook)


@pytest.mark.parametrize("name", list(CALLBACK_HOOKS))
def test_callback_protocol_matches_table(name: str) -> None:
    _assert_same_signature(spec.Callback, CALLBACK_HOOKS[name])


def _members(cls: type) -> set[str]:
    return {n for n in dir(cls) if not n.startswith("_") and callable(getattr(cls, n))}


def test_protocols_define_nothing_outside_the_table() -> None:
    module_side = set()
    for proto in (*PROTOCOL_OF_GROUP.values(), *STEP_PROTOCOLS.values(), spec.OptimizationMethods):
        module_side |= _members(proto)
    assert module_side == set(HOOKS)
    assert _members(spec.Callback) == set(CALLBACK_HOOKS)


def test_model_hooks_is_the_union_of_its_finer_protocols() -> None:
    finer = (
        spec.StageHooks,
        spec.BatchHooks,
        spec.EvalModeHooks,
        spec.EpochHooks,
        spec.OptimizationHooks,
        spec.ConfigureModelHooks,
    )
    names = [n for proto in finer for n in _members(proto)]
    assert len(names) == len(set(names)) == 38
    assert set(names) == _members(spec.ModelHooks)


def test_callback_counterparts_take_trainer_and_module_first() -> None:
    for name, hook in HOOKS.items():
        if hook.callback is None:
            continue
        cb = CALLBACK_HOOKS[name]
        assert cb.param_names[:2] == ("trainer", "pl_module")
        assert cb.params[2:] == hook.callback
    callback_only = set(CALLBACK_HOOKS) - {n for n, h in HOOKS.items() if h.callback is not None}
    assert callback_only == {
        "on_sanity_check_start",
        "on_sanity_check_end",
        "on_exception",
        "state_dict",
        "load_state_dict",
    }


def test_override_only_hooks() -> None:
    only = {name for name, hook in HOOKS.items() if hook.override_only}
    assert only == {
        "on_validation_model_train",
        "on_test_model_train",
        "configure_sharded_model",
        "configure_model",
        "prepare_data",
    }


def test_datamodule_hooks_are_the_marked_hooks_plus_its_own() -> None:
    marked = {name for name, hook in HOOKS.items() if hook.datamodule}
    assert set(spec.DATAMODULE_HOOKS) == marked | {"state_dict", "load_state_dict", "on_exception"}
    assert spec.DATAMODULE_HOOKS["on_exception"].param_names == ("exception",)
    assert marked >= {"prepare_data", "setup", "teardown", "train_dataloader", "on_save_checkpoint"}


# --- the table against the installed Lightning (runs wherever the `lightning` extra is installed) -----------

_GROUP_OF_CLASS = {"ModelHooks": "model", "DataHooks": "data", "CheckpointHooks": "checkpoint"}


def _lightning_hook_classes() -> list[type]:
    hooks = pytest.importorskip("pytorch_lightning.core.hooks")
    return [hooks.ModelHooks, hooks.DataHooks, hooks.CheckpointHooks]


def _same_annotation(ours: Any, theirs: Any) -> bool:
    """Lightning's annotation as the table means it: ``None`` for ``NoneType``; Lightning's dataloader
    aliases are ``Any`` where the spec says ``Iterable`` (SEED_TYPES above says why)."""
    if theirs is type(None):
        theirs = None
    if ours in (spec.TRAIN_DATALOADERS, spec.EVAL_DATALOADERS):
        return theirs is Any
    return bool(ours == theirs)


def test_the_table_matches_the_installed_lightning_hooks() -> None:
    """Every hook of Lightning's ModelHooks, DataHooks and CheckpointHooks, read with inspect: same names,
    class, parameters, defaults and annotations as the table (and nothing in SEED_HOOKS that Lightning lacks)."""
    found: dict[str, str] = {}
    for cls in _lightning_hook_classes():
        for name, fn in vars(cls).items():
            if name.startswith("_") or not inspect.isfunction(fn):
                continue
            found[name] = cls.__name__
            hook = HOOKS[name]
            assert hook.group == _GROUP_OF_CLASS[cls.__name__], name
            params = list(inspect.signature(fn).parameters.values())[1:]
            hints = get_type_hints(fn)
            assert [p.name for p in params] == list(hook.param_names), name
            for theirs, ours in zip(params, hook.params):
                assert ours.required == (theirs.default is inspect.Parameter.empty), (name, ours.name)
                if not ours.required:
                    assert ours.default == theirs.default, (name, ours.name)
                assert _same_annotation(ours.annotation, hints.get(theirs.name, Any)), (name, ours.name)
            assert _same_annotation(hook.returns, hints.get("return", Any)), (name, "return")
    assert set(found) == set(SEED_HOOKS)


# --- per-event facts: callers, state_free, closes, host_batch ------------------------------------------


def test_every_hook_has_one_entry_per_name_and_the_tables_agree_on_each_event() -> None:
    assert set(spec.EVERY_HOOK) == set(HOOKS) | set(CALLBACK_HOOKS) | set(spec.DATAMODULE_HOOKS)
    for table in (HOOKS, CALLBACK_HOOKS, spec.DATAMODULE_HOOKS):
        for name, hook in table.items():
            one = spec.EVERY_HOOK[name]
            facts = (hook.callers, hook.state_free, hook.closes, hook.host_batch, hook.log)
            assert facts == (one.callers, one.state_free, one.closes, one.host_batch, one.log), name
    assert dict(spec.CALLERS) == {name: hook.callers for name, hook in spec.EVERY_HOOK.items()}


def test_callers_name_exactly_who_has_the_hook() -> None:
    for name, hook in HOOKS.items():
        assert ("callbacks" in hook.callers) == (hook.callback is not None), name
        assert len(set(hook.callers)) == len(hook.callers), name
        if {"datamodule", "datamodule_or_module"} & set(hook.callers):
            assert hook.datamodule, name
    for name, hook in CALLBACK_HOOKS.items():
        assert "callbacks" in hook.callers, name
    # A datamodule may define on_save_checkpoint / on_load_checkpoint (it has CheckpointHooks), but Lightning's
    # checkpoint connector never calls them: only state_dict / load_state_dict reach a datamodule.
    never_called = {"on_save_checkpoint", "on_load_checkpoint"}
    for name, hook in spec.DATAMODULE_HOOKS.items():
        assert bool({"datamodule", "datamodule_or_module"} & set(hook.callers)) == (name not in never_called), name


def test_callers_keep_lightnings_exceptions_to_callbacks_first() -> None:
    """Read from Lightning's trainer/call.py, fit_loop.py and checkpoint_connector.py (2.6)."""
    exceptions = {
        name: callers
        for name, callers in spec.CALLERS.items()
        if callers not in (("module",), ("callbacks", "module"), ("callbacks",), ("datamodule_or_module",))
    }
    assert exceptions == {
        "prepare_data": ("datamodule", "module"),
        "setup": ("datamodule", "callbacks", "module"),
        "teardown": ("datamodule", "callbacks", "module"),
        "on_load_checkpoint": ("module", "callbacks"),
        "on_train_epoch_end": ("callbacks", "module", "monitoring_callbacks"),
        "on_exception": ("callbacks", "datamodule"),
        "state_dict": ("callbacks", "datamodule"),
        "load_state_dict": ("datamodule", "callbacks"),
    }


def test_end_hooks_close_the_start_hook_of_their_name() -> None:
    closes = {name: hook.closes for name, hook in spec.EVERY_HOOK.items() if hook.closes}
    assert len(closes) == 10
    for end, start in closes.items():
        assert end.endswith("_end") and start == end[: -len("end")] + "start", end


def test_host_batch_hooks_are_the_ones_before_transfer() -> None:
    host = {name for name, hook in spec.EVERY_HOOK.items() if hook.host_batch}
    assert host == {"on_before_batch_transfer", "transfer_batch_to_device"}
