"""Registration checks: a model or callback with a mistaken hook is told so before any work starts."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch

import loophooks.spec as spec
from loophooks.spec import (
    HookSignatureError,
    HookSignatureWarning,
    verify_callback,
    verify_datamodule,
    verify_module,
)


class Good(torch.nn.Module, spec.ModelHooks, spec.DataHooks, spec.CheckpointHooks):
    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return torch.zeros(())

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> int | None:
        return None

    def on_validation_batch_end(self, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        return None

    def on_test_batch_start(self, batch: Any, batch_idx: int) -> None:  # leaves out dataloader_idx: allowed
        return None

    def on_predict_batch_start(self, *args: Any) -> None:  # takes anything
        return None

    def setup(self, stage: str, extra: int = 0) -> None:  # an extra optional parameter is never a problem
        return None


def _no_warnings(fn: Any, obj: object) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fn(obj)


def test_good_model_passes_silently() -> None:
    _no_warnings(verify_module, Good())


def test_plain_module_without_hooks_passes() -> None:
    _no_warnings(verify_module, torch.nn.Linear(2, 2))


def test_missing_required_parameter_is_an_error_naming_both_signatures() -> None:
    class Model(torch.nn.Module):
        def on_train_batch_start(self, batch: Any) -> None:
            return None

    with pytest.raises(HookSignatureError) as info:
        verify_module(Model())
    text = str(info.value)
    assert "Model.on_train_batch_start(batch: Any) -> None" in text
    assert "on_train_batch_start(self, batch: Any, batch_idx: int) -> int | None" in text
    assert "`batch_idx`" in text


def test_extra_required_parameter_is_an_error() -> None:
    class Model(torch.nn.Module):
        def on_before_backward(self, loss: torch.Tensor, scale: float) -> None:
            return None

    with pytest.raises(HookSignatureError, match=r"Model\.on_before_backward.*requires `scale`.*never passes"):
        verify_module(Model())


def test_extra_required_keyword_only_parameter_is_an_error() -> None:
    class Model(torch.nn.Module):
        def on_fit_start(self, *, verbose: bool) -> None:
            return None

    with pytest.raises(HookSignatureError, match="`verbose`"):
        verify_module(Model())


def test_renamed_parameter_is_a_warning() -> None:
    class Model(torch.nn.Module):
        def on_train_batch_end(self, out: Any, batch: Any, idx: int) -> None:
            return None

    with pytest.warns(HookSignatureWarning) as record:
        verify_module(Model())
    messages = [str(w.message) for w in record]
    assert any("named `out` where" in m and "`outputs`" in m for m in messages)
    assert any("named `idx` where" in m and "`batch_idx`" in m for m in messages)


@pytest.mark.parametrize(
    ("wrong", "right"),
    [
        ("on_train_batch_begin", "on_train_batch_start"),
        ("on_validation_epoch_ends", "on_validation_epoch_end"),
        ("on_train_epoch_begin", "on_train_epoch_start"),
        ("on_before_optimiser_step", "on_before_optimizer_step"),
        ("configure_optimizer", "configure_optimizers"),
    ],
)
def test_near_miss_name_is_a_warning_naming_the_real_hook(wrong: str, right: str) -> None:
    Model = type("Model", (torch.nn.Module,), {wrong: lambda self, *a: None})
    with pytest.warns(HookSignatureWarning, match=rf"Model\.{wrong} is not a model hook.*did you mean `{right}\("):
        verify_module(Model())


def test_unrelated_user_methods_are_not_flagged() -> None:
    class Model(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

        def on_my_own_event(self) -> None:
            return None

        def compute_metrics(self) -> None:
            return None

    _no_warnings(verify_module, Model())


def test_deprecated_configure_sharded_model_warns() -> None:
    class Model(torch.nn.Module):
        def configure_sharded_model(self) -> None:
            return None

    with pytest.warns(HookSignatureWarning, match="configure_sharded_model is deprecated"):
        verify_module(Model())


def test_configure_sharded_model_with_configure_model_is_an_error() -> None:
    class Model(torch.nn.Module):
        def configure_sharded_model(self) -> None:
            return None

        def configure_model(self) -> None:
            return None

    with pytest.raises(HookSignatureError, match="both `configure_model` and the deprecated"):
        verify_module(Model())


def test_callback_with_module_signature_is_an_error() -> None:
    class Cb(spec.Callback):
        def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:  # type: ignore[override]
            return None

    with pytest.raises(HookSignatureError, match=r"Cb\.on_train_batch_end.*required parameter.*trainer: Any, pl_module"):
        verify_callback(Cb())


def test_callback_near_miss_is_a_warning() -> None:
    class Cb:
        def on_validation_end_(self, trainer: Any, pl_module: Any) -> None:
            return None

        def on_sanity_check_begin(self, trainer: Any, pl_module: Any) -> None:
            return None

    with pytest.warns(HookSignatureWarning, match="did you mean `on_sanity_check_start"):
        verify_callback(Cb())


def test_good_callback_passes() -> None:
    class Cb(spec.Callback):
        def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
            return None

        def state_dict(self) -> dict[str, Any]:
            return {"n": 1}

    _no_warnings(verify_callback, Cb())


def test_datamodule_is_checked_against_data_hooks() -> None:
    class DM(spec.DataHooks):
        def setup(self) -> None:  # type: ignore[override]
            return None

    with pytest.raises(HookSignatureError, match=r"DM\.setup.*`stage`"):
        verify_datamodule(DM())


def test_is_overridden_ignores_spec_defaults() -> None:
    model = Good()
    assert spec.is_overridden(model, "on_train_batch_start")
    assert not spec.is_overridden(model, "on_fit_start")
    assert [h.name for h in spec.overridden_hooks(model)][:2] == ["on_train_batch_start", "on_validation_batch_end"]


def test_registered_base_methods_count_as_defaults() -> None:
    class Base(torch.nn.Module):
        def on_fit_start(self) -> None:
            return None

    class Model(Base):
        pass

    assert spec.is_overridden(Model(), "on_fit_start")
    spec.register_base(Base)
    assert not spec.is_overridden(Model(), "on_fit_start")
