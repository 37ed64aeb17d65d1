"""Trainer options compared with Lightning 2.6 on the same job: each either works as there, or is refused."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

from loophooks.engine import ConfigurationError, Trainer
from tests.lightning_port._kit import BOTH, api, data, loader, quiet, trainer

pl = pytest.importorskip("pytorch_lightning")
pytestmark = pytest.mark.lightning

def test_every_lightning_option_is_accepted_by_name() -> None:
    ours = inspect.signature(Trainer).parameters
    theirs = inspect.signature(pl.Trainer).parameters
    missing = sorted(set(theirs) - set(ours))
    assert not missing, f"Lightning options the engine does not know: {missing}"
    for name in set(theirs) & set(ours):
        assert ours[name].kind is inspect.Parameter.KEYWORD_ONLY, name


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("profiler", "xla"),  # "simple", "advanced", "pytorch" work: tests/lightning_port/test_profilers.py
        ("plugins", []),
        ("sync_batchnorm", True),
        ("model_registry", "name"),
        ("enable_autolog_hparams", False),
    ],
)
def test_options_not_supported_are_refused_by_name(option: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=rf"{option}=.*not supported"):
        Trainer(**{option: value})
    Trainer(**{option: inspect.signature(pl.Trainer).parameters[option].default})  # the default is fine


def _probe(kind: str) -> Any:
    L = api(kind)

    class Probe(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.layer = torch.nn.Linear(2, 1)
            self.seen: list[Any] = []

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.layer(x)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            self.seen.append(("train", self.current_epoch, batch_idx, batch[0][:, 0].tolist(), torch.is_anomaly_enabled(),
                              batch[0].dtype, torch.get_default_dtype()))
            return torch.nn.functional.mse_loss(self(batch[0]).float(), batch[1].float())

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            self.seen.append(("val", self.current_epoch, batch_idx))

        def test_step(self, batch: Any, batch_idx: int) -> None:
            self.seen.append(("test", batch_idx, torch.is_inference_mode_enabled(), torch.is_grad_enabled()))

        def predict_step(self, batch: Any, batch_idx: int) -> Any:
            self.seen.append(("predict", batch_idx, torch.is_inference_mode_enabled()))
            return self(batch[0])

        def val_dataloader(self) -> Any:
            return loader(8, 4)

        def configure_optimizers(self) -> Any:
            self.seen.append(("estimated_stepping_batches", self.trainer.estimated_stepping_batches))
            return torch.optim.SGD(self.parameters(), lr=0.1)

    return Probe


def _fit(kind: str, root: Path, train: Any = None, **options: Any) -> tuple[Any, Any]:
    model = _probe(kind)()
    options.setdefault("max_epochs", 2)
    t = trainer(kind, default_root_dir=str(root), **options)
    quiet(t.fit, model, train if train is not None else loader(16, 4))
    return t, model


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.ckpt"))


@pytest.mark.parametrize(
    "options",
    [
        {"fast_dev_run": True, "enable_checkpointing": True},
        {"fast_dev_run": 3, "enable_checkpointing": True},
        {"overfit_batches": 2},
        {"overfit_batches": 0.5, "fast_dev_run": 2},
        {"min_epochs": 3, "max_epochs": 5, "stop": True},
        {"min_steps": 6, "max_epochs": 5, "stop": True},
        {"detect_anomaly": True, "max_epochs": 1, "limit_train_batches": 1},
        {"precision": "64-true", "max_epochs": 1},
        {"precision": "bf16-true", "max_epochs": 1},
        {"precision": "16-true", "max_epochs": 1, "limit_train_batches": 2},
        {"precision": "16-mixed", "max_epochs": 1, "limit_train_batches": 2},
        {"barebones": True, "max_epochs": 1, "enable_checkpointing": None, "enable_progress_bar": None,
         "enable_model_summary": None, "num_sanity_val_steps": None},
    ],
    ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items() if v is not None),
)
def test_fit_options_train_as_in_lightning(options: dict[str, Any], tmp_path: Path) -> None:
    results = []
    for kind in BOTH:
        opts = dict(options)
        stop = opts.pop("stop", False)
        L = api(kind)

        class Stop(L.Callback):
            def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
                trainer.should_stop = True

        if stop:
            opts["callbacks"] = [Stop()]
        train = DataLoader(data(16), batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(1))
        root = tmp_path / kind
        t, model = _fit(kind, root, train, **opts)
        weights = [v for p in model.parameters() for v in p.detach().double().flatten().tolist()]
        results.append((model.seen, t.global_step, t.current_epoch, t.precision, str(model.dtype), weights, _files(root),
                        t.limit_train_batches, t.num_sanity_val_steps, t.max_epochs))
    lightning, engine = results
    assert engine[:5] == lightning[:5]
    assert engine[5] == pytest.approx(lightning[5], rel=1e-3 if options.get("precision", "").startswith(("bf16", "16")) else 1e-6)
    assert engine[6:] == lightning[6:]


@pytest.mark.parametrize(
    "option",
    ["enable_checkpointing", "enable_progress_bar", "enable_model_summary", "num_sanity_val_steps", "fast_dev_run",
     "detect_anomaly"],
)
def test_barebones_refuses_what_lightning_refuses(option: str) -> None:
    value = 1 if option in ("num_sanity_val_steps", "fast_dev_run") else True
    with pytest.raises(ValueError, match=option):
        pl.Trainer(barebones=True, **{option: value})
    with pytest.raises(ConfigurationError, match=option):
        Trainer(barebones=True, **{option: value})


@pytest.mark.parametrize("inference_mode", [True, False])
def test_inference_mode_as_in_lightning(inference_mode: bool) -> None:
    seen = []
    for kind in BOTH:
        model = _probe(kind)()
        t = trainer(kind, inference_mode=inference_mode)
        quiet(t.test, model, loader(4, 2))
        quiet(t.predict, model, loader(4, 2))
        seen.append(model.seen)
    assert seen[1] == seen[0]


@pytest.mark.parametrize("value", [None, True, False])
def test_benchmark_sets_cudnn_as_lightning(value: Any) -> None:
    before = torch.backends.cudnn.benchmark
    try:
        seen = []
        for kind in BOTH:
            torch.backends.cudnn.benchmark = not value
            t = trainer(kind, benchmark=value)
            assert t is not None
            seen.append(torch.backends.cudnn.benchmark)
        assert seen[1] == seen[0]
    finally:
        torch.backends.cudnn.benchmark = before


def test_loader_properties_print_and_checkpoint_callbacks(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    seen = []
    for kind in BOTH:
        checkpoint = pl.callbacks.ModelCheckpoint if kind == "lightning" else api(kind).ModelCheckpoint
        model = _probe(kind)()
        train, val, test, predict = loader(8, 4), [loader(4, 2), loader(6, 2)], loader(4, 4), loader(2, 2)
        t = trainer(kind, max_epochs=1, enable_checkpointing=True, default_root_dir=str(tmp_path / kind),
                    callbacks=[checkpoint(dirpath=str(tmp_path / kind / "x"))])
        before = (t.train_dataloader, t.val_dataloaders, t.test_dataloaders, t.predict_dataloaders)

        def step(batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
            pass

        model.validation_step = step
        quiet(t.fit, model, train, val)
        after_fit = (t.train_dataloader is train, [a is b for a, b in zip(t.val_dataloaders or [], val)])
        quiet(t.test, model, test)
        after_test = (t.test_dataloaders is test, t.train_dataloader, t.val_dataloaders)  # only the last run's
        quiet(t.predict, model, predict)
        # Lightning hands back a rebuilt predict loader (its sampler wrapped); the engine the one given
        after_predict = (len(t.predict_dataloaders), t.predict_dataloaders.dataset is predict.dataset, t.test_dataloaders)
        capsys.readouterr()
        t.print("hello", 2, sep="-")
        seen.append((
            before, after_fit, after_test, after_predict,
            [type(c).__name__ for c in t.checkpoint_callbacks],
            capsys.readouterr().out,
            model.seen[0],
        ))
    assert seen[1] == seen[0]


@pytest.mark.parametrize("every", [1, 2])
def test_reload_dataloaders_every_n_epochs_asks_when_lightning_asks(every: int) -> None:
    seen = []
    for kind in BOTH:
        L = api(kind)

        class Reloads(L.LightningModule):
            def __init__(self) -> None:
                super().__init__()
                self.layer = torch.nn.Linear(2, 1)
                self.seen: list[Any] = []

            def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
                return self.layer(batch[0]).sum()

            def validation_step(self, batch: Any, batch_idx: int) -> None:
                pass

            def configure_optimizers(self) -> Any:
                return torch.optim.SGD(self.parameters(), lr=0.1)

            def train_dataloader(self) -> Any:
                self.seen.append(("train_dataloader", self.current_epoch))
                return loader(4, 2)

            def val_dataloader(self) -> Any:
                self.seen.append(("val_dataloader", self.current_epoch))
                return loader(4, 2)

            def on_train_epoch_start(self) -> None:
                self.seen.append(("on_train_epoch_start", self.current_epoch))

            def on_validation_start(self) -> None:
                self.seen.append(("on_validation_start", self.current_epoch))

        model = Reloads()
        quiet(trainer(kind, max_epochs=4, reload_dataloaders_every_n_epochs=every).fit, model)
        seen.append(model.seen)
    assert seen[1] == seen[0]


@pytest.mark.parametrize(
    ("option", "value"),
    [("overfit_batches", float("nan")), ("overfit_batches", 1.5), ("fast_dev_run", -1), ("min_epochs", -1),
     ("min_steps", 1.5), ("inference_mode", "yes"), ("detect_anomaly", 1), ("benchmark", "fast"),
     ("reload_dataloaders_every_n_epochs", -1)],
)
def test_bad_values_are_refused_naming_the_option(option: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=option):
        Trainer(**{option: value})
