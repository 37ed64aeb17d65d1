"""The recorder, the argument normaliser and the trace file format, on their own
(no trainer): what a conformance verdict rests on must itself be trustworthy."""

from __future__ import annotations

import enum
import functools
import inspect
import json
from typing import Any

import pytest
import torch

from loophooks.conformance._normalize import (
    SCHEMA,
    NormalizeContext,
    dump_trace,
    grad_mode,
    load_trace,
    normalize,
    tensor_device,
)
from loophooks.conformance._recorder import Recorder, datamodule_hooks, trainer_settings
from loophooks.spec import ANY, CALLBACK_HOOKS, HOOKS, Call, Fault, Scenario

# --- normalisation ---------------------------------------------------------------------------


class _Color(enum.Enum):
    RED = "red"


class _Wrapper:
    """Stands for a trainer's optimizer wrapper (Lightning's ``LightningOptimizer``)."""

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self._optimizer = optimizer


def _sgd() -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)


def test_plain_values_pass_through_and_enums_become_values() -> None:
    for value in (None, True, 3, 1.5, "fit"):
        assert normalize(value) == value
    assert normalize(_Color.RED) == "red"


def test_tensors_become_shapes_and_devices_strings() -> None:
    assert normalize(torch.zeros(2, 4)) == {"shape": [2, 4]}
    assert normalize(torch.tensor(1.0)) == {"shape": []}
    assert normalize(torch.device("cpu")) == "cpu"
    assert normalize(torch.device("cuda")) == "cuda:0"
    assert normalize(torch.device("cuda", 1)) == "cuda:1"


def test_optimizers_and_schedulers_become_their_index() -> None:
    first, second = _sgd(), _sgd()
    scheduler = torch.optim.lr_scheduler.StepLR(second, step_size=1)
    ctx = NormalizeContext(optimizers=[first, second], schedulers=[scheduler])
    assert normalize(second, ctx) == {"optimizer": 1}
    assert normalize(_Wrapper(first), ctx) == {"optimizer": 0}
    assert normalize(scheduler, ctx) == {"scheduler": 0}
    assert normalize(_sgd(), ctx) == {"optimizer": -1}  # one configure_optimizers never returned


def test_containers_exceptions_and_the_rest() -> None:
    assert normalize({"loss": torch.ones(1), "b": 1, "a": 2}) == {"keys": ["a", "b", "loss"]}
    assert normalize([torch.zeros(3), 1]) == [{"shape": [3]}, 1]
    assert normalize(ValueError("x")) == {"exception": "ValueError"}
    assert normalize(functools.partial(print)) == {"callable": True}
    assert normalize(object()) == {"type": "object"}


def test_grad_mode_names_the_autograd_state() -> None:
    assert grad_mode() == "enabled"
    with torch.no_grad():
        assert grad_mode() == "no_grad"
    with torch.inference_mode():
        assert grad_mode() == "inference"


def test_tensor_device_finds_the_first_tensor_of_a_batch() -> None:
    class Batch:
        def __init__(self) -> None:
            self.x = torch.zeros(1)

    assert tensor_device([{"x": torch.zeros(1)}]) == "cpu"
    assert tensor_device(Batch()) == "cpu"
    assert tensor_device([1, "a"]) is None


# --- the trace file format ---------------------------------------------------------------------


def test_traces_round_trip_through_json() -> None:
    calls = [
        Call("setup", "callback", {"stage": "fit"}, training=True, grad="enabled"),
        Call("training_step", "module", {"batch": {"shape": [2, 4]}, "batch_idx": 0}, True, "enabled", "cpu"),
        Call("val_dataloader", "datamodule", {}, None, None),
    ]
    text = dump_trace(calls, scenario="fit", meta={"trainer": "test"})
    doc = json.loads(text)
    assert doc["schema"] == SCHEMA == "loophooks.trace/1"
    assert doc["scenario"] == "fit" and doc["meta"] == {"trainer": "test"}
    assert load_trace(text) == calls


def test_expected_traces_keep_their_wildcards_through_json() -> None:
    from loophooks.spec import Resume, expected_calls

    calls = expected_calls(Scenario(resume=Resume(0, 1), limit_val_batches=0))
    loaded = load_trace(dump_trace(calls))
    saves = [c for c in loaded if c.hook == "on_save_checkpoint"]
    assert saves and all(c.args["checkpoint"] is ANY for c in saves)
    assert loaded == calls


def test_unnormalised_values_cannot_be_dumped() -> None:
    with pytest.raises(TypeError, match="normalize"):
        dump_trace([Call("on_before_backward", "module", {"loss": torch.ones(1)})])


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"schema": "loophooks.trace/2", "calls": []}, "schema"),
        ([], "schema"),
        ({"schema": SCHEMA, "calls": [{"target": "module"}]}, "hook"),
        ({"schema": SCHEMA, "calls": [{"hook": "setup", "target": "trainer"}]}, "target"),
        ({"schema": SCHEMA, "calls": [{"hook": "setup", "grad": "off"}]}, "grad"),
        ({"schema": SCHEMA, "calls": [{"hook": "setup", "args": [1]}]}, "args"),
    ],
)
def test_loading_names_what_is_wrong(doc: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_trace(json.dumps(doc))


# --- the recorder on a trainer-free base ------------------------------------------------------


class FrameworkModule(torch.nn.Module):
    """A minimal trainer-free module base with defaults for a few hooks of the table."""

    def __init__(self) -> None:
        super().__init__()
        self.current_epoch = 0
        self.seen: list[str] = []

    def on_fit_start(self) -> None:
        self.seen.append("on_fit_start")

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> int | None:
        return None

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        return {"loss": batch.sum()}

    def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Any:
        return None

    def configure_model(self) -> None:  # called by loops only when overridden
        self.seen.append("configure_model")

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": torch.optim.lr_scheduler.StepLR(optimizer, 1)}}

    def on_before_optimizer_step(self, optimizer: Any) -> None:
        pass


class UserModule(FrameworkModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> int | None:
        return -1 if batch_idx == 5 else None


class FrameworkCallback:
    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        pass

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {}


class FrameworkDataModule:
    def setup(self, stage: str) -> None:
        pass

    def train_dataloader(self) -> Any:
        return [1]

    def training_step(self, batch: Any, batch_idx: int) -> Any:  # not a datamodule hook: never recorded
        return None


def test_the_recorder_iterates_the_table() -> None:
    assert "training_step" in HOOKS and "on_fit_start" in CALLBACK_HOOKS
    from loophooks.spec import DATAMODULE_HOOKS

    assert set(datamodule_hooks()) == set(DATAMODULE_HOOKS)
    assert {"state_dict", "load_state_dict", "on_exception"} <= set(datamodule_hooks())
    assert "train_dataloader" in datamodule_hooks() and "training_step" not in datamodule_hooks()


def test_module_calls_are_recorded_then_delegated() -> None:
    recorder = Recorder()
    model = recorder.model_class(UserModule, FrameworkModule)()
    assert recorder.model is model
    model.on_fit_start()
    assert model.seen == ["on_fit_start"]  # the default still ran
    out = model.training_step(torch.ones(2, 2), batch_idx=3)
    assert isinstance(out, dict) and "loss" in out
    assert model.on_train_batch_start(torch.ones(2, 2), 5) == -1  # the user's return value comes back
    model.eval()
    with torch.no_grad():
        model.validation_step(torch.ones(2, 2), 0)
    assert recorder.calls == [
        Call("on_fit_start", "module", {}, True, "enabled"),
        Call("training_step", "module", {"batch": {"shape": [2, 2]}, "batch_idx": 3}, True, "enabled", "cpu"),
        Call("on_train_batch_start", "module", {"batch": {"shape": [2, 2]}, "batch_idx": 5}, True, "enabled", "cpu"),
        Call("validation_step", "module", {"batch": {"shape": [2, 2]}, "batch_idx": 0}, False, "no_grad", "cpu"),
    ]


def test_wrappers_keep_the_wrapped_signature() -> None:
    cls = Recorder().model_class(UserModule, FrameworkModule)
    assert inspect.signature(cls.validation_step) == inspect.signature(FrameworkModule.validation_step)
    assert inspect.getfullargspec(cls.validation_step).args == ["self", "batch", "batch_idx", "dataloader_idx"]


def test_override_only_hooks_are_recorded_only_where_the_user_overrides_them() -> None:
    assert HOOKS["configure_model"].override_only
    plain = Recorder().model_class(UserModule, FrameworkModule)
    assert "configure_model" not in vars(plain)

    class Overriding(UserModule):
        def configure_model(self) -> None:
            super().configure_model()

    recorder = Recorder()
    model = recorder.model_class(Overriding, FrameworkModule)()
    model.configure_model()
    assert [c.hook for c in recorder.calls] == ["configure_model"]
    assert model.seen == ["configure_model"]


def test_optimizers_are_normalised_by_their_place_in_configure_optimizers() -> None:
    recorder = Recorder()
    model = recorder.model_class(UserModule, FrameworkModule)()
    config = model.configure_optimizers()
    model.on_before_optimizer_step(config["optimizer"])
    assert recorder.calls[-1] == Call("on_before_optimizer_step", "module", {"optimizer": {"optimizer": 0}}, True, "enabled")
    assert recorder.context.schedulers == [config["lr_scheduler"]["scheduler"]]


def test_callback_calls_leave_out_trainer_and_module_but_record_the_modules_mode() -> None:
    recorder = Recorder()
    model = UserModule()
    model.eval()
    callback = recorder.callback_class(FrameworkCallback, "RecordingCallback0")()
    assert type(callback).__name__ == "RecordingCallback0"
    callback.on_train_batch_start(object(), model, torch.zeros(2, 4), 1)
    callback.state_dict()
    assert recorder.calls == [
        Call("on_train_batch_start", "callback", {"batch": {"shape": [2, 4]}, "batch_idx": 1}, False, "enabled", "cpu"),
        Call("state_dict", "callback", {}, None, "enabled"),
    ]


def test_datamodule_records_only_datamodule_hooks() -> None:
    recorder = Recorder()
    dm = recorder.datamodule_class(FrameworkDataModule, object)()
    assert dm.train_dataloader() == [1]
    dm.setup("fit")
    dm.training_step(None, 0)
    assert [(c.hook, c.target, dict(c.args)) for c in recorder.calls] == [
        ("train_dataloader", "datamodule", {}),
        ("setup", "datamodule", {"stage": "fit"}),
    ]


def test_a_fault_fires_after_the_call_is_recorded() -> None:
    recorder = Recorder(fault=Fault("training_step", epoch=0, batch=1))
    model = recorder.model_class(UserModule, FrameworkModule)()
    model.on_train_batch_start(torch.ones(1, 2), 0)
    model.training_step(torch.ones(1, 2), 0)  # batch 0: no fault
    model.on_train_batch_start(torch.ones(1, 2), 1)
    with pytest.raises(RuntimeError, match="fault injected in training_step"):
        model.training_step(torch.ones(1, 2), 1)
    assert [c.hook for c in recorder.calls][-1] == "training_step"


def test_trainer_settings_use_lightning_names_and_leave_unset_options_out() -> None:
    settings = trainer_settings(Scenario(limit_val_batches=0.5, gradient_clip_val=1.0, device="cuda"))
    assert settings["limit_val_batches"] == 0.5
    assert settings["gradient_clip_algorithm"] == "norm"
    assert settings["accelerator"] == "gpu"
    assert "limit_train_batches" not in settings and "val_check_interval" not in settings


def test_any_matches_every_recorded_value() -> None:
    expected = Call("on_save_checkpoint", "module", {"checkpoint": ANY})
    assert expected.matches(Call("on_save_checkpoint", "module", {"checkpoint": {"keys": ["epoch"]}}, True, "enabled"))
    assert not expected.matches(Call("on_save_checkpoint", "callback", {"checkpoint": {}}))


def test_the_lightning_adapter_imports_without_lightning_and_explains_when_used(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    from loophooks.conformance.adapters import lightning as module

    real_import = builtins.__import__

    def no_lightning(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("pytorch_lightning"):
            raise ImportError("No module named 'pytorch_lightning'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_lightning)
    monkeypatch.setattr(module.importlib, "import_module", lambda name: no_lightning(name))
    adapter = module.LightningAdapter()
    assert adapter.name == "lightning" and "fit" in adapter.capabilities
    with pytest.raises(module.LightningUnavailableError, match="pytorch_lightning"):
        adapter.module_base  # noqa: B018 - the first use needs Lightning
