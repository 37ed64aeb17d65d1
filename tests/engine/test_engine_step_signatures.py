"""Which step and batch-hook signatures run, and with which arguments: the engine against Lightning 2.6.

Lightning passes a step's ``batch_idx`` only when the step declares a second positional parameter
(or ``*args``), and ``dataloader_idx`` only when there are several loaders; with one loader, a
model's step or batch hook that requires ``dataloader_idx`` is refused before the first batch, and
with several, one that cannot take it is refused. Each form runs (or is refused) through both
trainers, and the arguments every call received are compared.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from loophooks.engine import ConfigurationError, LoopModule, Trainer

pl = pytest.importorskip("pytorch_lightning")

pytestmark = pytest.mark.lightning

Calls = list[tuple[str, int]]  # (method, number of arguments it received after self)


def _loaders(n: int) -> Any:
    loader = DataLoader(TensorDataset(torch.randn(4, 2)), batch_size=2)
    return loader if n == 1 else [loader] * n


def _model(base: type, form: str) -> nn.Module:
    """A model of ``base`` whose steps and evaluation batch hooks take the parameters ``form`` names."""
    calls: Calls = []

    def record(name: str) -> Callable[..., Any]:
        def method(self: Any, *args: Any) -> Any:
            calls.append((name, len(args)))
            if name == "training_step":
                return self.layer(args[0][0]).sum()
            return None

        return method

    def signature(name: str, params: str) -> Callable[..., Any]:
        # Real parameter lists (inspect sees them), each body recording what arrived.
        namespace: dict[str, Any] = {"record": record(name)}
        exec(f"def {name}(self, {params}):\n    return record(self, {_args(params)})", namespace)
        return namespace[name]  # type: ignore[no-any-return]

    steps = {
        "batch": "batch",
        "batch_idx": "batch, batch_idx",
        "loader_default": "batch, batch_idx, dataloader_idx=0",
        "loader_required": "batch, batch_idx, dataloader_idx",
    }[form]
    hooks = {"batch": "batch, batch_idx", "batch_idx": "batch, batch_idx"}.get(form, steps)

    def init(self: Any) -> None:
        base.__init__(self)
        self.layer = nn.Linear(2, 1)

    members: dict[str, Any] = {
        "__init__": init,
        "calls": calls,
        "configure_optimizers": lambda self: torch.optim.SGD(self.parameters(), lr=0.1),
        "training_step": signature("training_step", "batch" if form == "batch" else "batch, batch_idx"),
    }
    for stage in ("validation", "test", "predict"):
        members[f"{stage}_step"] = signature(f"{stage}_step", steps)
        members[f"on_{stage}_batch_start"] = signature(f"on_{stage}_batch_start", hooks)
    return type(f"{form}_{base.__name__}", (base,), members)()  # type: ignore[no-any-return]


def _args(params: str) -> str:
    return ", ".join(p.split("=")[0].strip() for p in params.split(","))


def _run(make_trainer: Callable[[], Any], model: nn.Module, loaders: int) -> Calls | str:
    trainer = make_trainer()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer.fit(model, train_dataloaders=_loaders(1))
            trainer.validate(model, dataloaders=_loaders(loaders))
            trainer.test(model, dataloaders=_loaders(loaders))
            trainer.predict(model, dataloaders=_loaders(loaders))
    except (RuntimeError, ConfigurationError):
        return "refused"  # Lightning raises RuntimeError, the engine ConfigurationError: both before any batch
    return list(model.calls)  # type: ignore[arg-type]


def _lightning() -> Any:
    return pl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )


def _engine() -> Trainer:
    return Trainer(max_epochs=1, enable_checkpointing=False, enable_progress_bar=False, num_sanity_val_steps=0)


FORMS = [
    ("batch", 1),
    ("batch_idx", 1),
    ("loader_default", 1),
    ("loader_default", 2),
    ("loader_required", 1),
    ("loader_required", 2),
    ("batch_idx", 2),
]


@pytest.fixture(scope="module")
def lightning_calls() -> dict[tuple[str, int], Calls | str]:
    return {(form, n): _run(_lightning, _model(pl.LightningModule, form), n) for form, n in FORMS}


@pytest.mark.parametrize(("form", "loaders"), FORMS, ids=[f"{f}-{n}loaders" for f, n in FORMS])
def test_steps_receive_what_lightning_passes(
    form: str, loaders: int, lightning_calls: dict[tuple[str, int], Calls | str]
) -> None:
    expected = lightning_calls[(form, loaders)]
    assert _run(_engine, _model(LoopModule, form), loaders) == expected


def test_the_forms_cover_acceptance_and_refusal(lightning_calls: dict[tuple[str, int], Calls | str]) -> None:
    """Lightning itself: a step without batch_idx gets one argument; a required dataloader_idx with one
    loader, or none with several, is refused."""
    assert ("training_step", 1) in lightning_calls[("batch", 1)]  # type: ignore[operator]
    assert ("validation_step", 1) in lightning_calls[("batch", 1)]  # type: ignore[operator]
    assert ("validation_step", 3) in lightning_calls[("loader_default", 2)]  # type: ignore[operator]
    assert lightning_calls[("loader_required", 1)] == "refused"
    assert lightning_calls[("batch_idx", 2)] == "refused"
    assert isinstance(lightning_calls[("loader_required", 2)], list)
