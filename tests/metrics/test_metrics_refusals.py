"""What Lightning refuses, the engine refuses: the same bad ``self.log`` call run through both trainers.

Lightning must raise (the reference); the engine must raise a ``LoggingError`` that names
the key and the hook. A run of the same module with a good call must pass on both, so
the harness itself is shown to work.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

pytest.importorskip("pytorch_lightning")

pytestmark = pytest.mark.lightning

# hook -> (value, options) of the call made there; None value means "a good call"
CASES: dict[str, tuple[str, Any, dict[str, Any], str]] = {
    "non_scalar_tensor": ("training_step", torch.ones(3), {}, "one element"),
    "string": ("training_step", "text", {}, "str values cannot be logged"),
    "dict": ("training_step", {"a": 1.0}, {}, "dict"),
    "custom_reduce_fx": ("training_step", 1.0, {"reduce_fx": lambda x: x}, "reduce_fx"),
    "unknown_reduce_name": ("training_step", 1.0, {"reduce_fx": "median"}, "reduce_fx"),
    "no_level": ("training_step", 1.0, {"on_step": False, "on_epoch": False}, "on_step=False, on_epoch=False"),
    "step_in_epoch_hook": ("on_train_epoch_end", 1.0, {"on_step": True}, "on_step must be one of (False,)"),
    "no_epoch_in_epoch_hook": ("on_train_epoch_end", 1.0, {"on_epoch": False}, "on_epoch must be one of (True,)"),
    "refused_hook_fit_start": ("on_fit_start", 1.0, {}, "may not log"),
    "refused_hook_train_end": ("on_train_end", 1.0, {}, "may not log"),
    "refused_hook_validation_end": ("on_validation_end", 1.0, {}, "may not log"),
    "loader_suffix_in_name": ("training_step", 1.0, {"name": "x/dataloader_idx_0"}, "dataloader_idx"),
    "options_change_in_epoch": ("training_step", 1.0, {"flip_prog_bar": True}, "different options"),
}


def _module(kind: str, hook: str, value: Any, options: dict[str, Any]) -> Any:
    if kind == "lightning":
        import pytorch_lightning as pl

        base: Any = pl.LightningModule
    else:
        from loophooks.engine import LoopModule

        base = LoopModule
    options = dict(options)
    name = options.pop("name", "key")
    flip = options.pop("flip_prog_bar", False)

    def do_log(self: Any, batch_idx: int = 0) -> None:
        opts = dict(options)
        if flip:
            opts["prog_bar"] = batch_idx % 2 == 1
        self.log(name, value, **opts)

    class Bad(base):  # type: ignore[misc,valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(1, 1)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            if hook == "training_step":
                do_log(self, batch_idx)
            return self.layer(batch[0]).sum()

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            pass

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    def hook_fn(self: Any, *args: Any) -> None:
        do_log(self)

    if hook != "training_step":
        setattr(Bad, hook, hook_fn)
    return Bad()


def _fit(kind: str, hook: str, value: Any, options: dict[str, Any], tmp: str) -> None:
    data = DataLoader(TensorDataset(torch.arange(4.0).view(-1, 1)), batch_size=2)
    kwargs = dict(max_epochs=1, enable_checkpointing=False, enable_progress_bar=False, logger=False,
                  num_sanity_val_steps=0, default_root_dir=tmp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "lightning":
            import pytorch_lightning as pl

            trainer: Any = pl.Trainer(accelerator="cpu", devices=1, enable_model_summary=False, **kwargs)
        else:
            from loophooks.engine import Trainer

            trainer = Trainer(accelerator="cpu", **kwargs)
        trainer.fit(_module(kind, hook, value, options), data, data)


@pytest.mark.parametrize("case", sorted(CASES))
def test_refused_like_lightning(case: str, tmp_path: Any) -> None:
    from loophooks.engine._log_options import LoggingError

    hook, value, options, rule = CASES[case]
    with pytest.raises(Exception):  # noqa: B017 - Lightning's own exception classes vary; it must refuse
        _fit("lightning", hook, value, options, str(tmp_path / "l"))
    with pytest.raises(LoggingError) as info:
        _fit("engine", hook, value, options, str(tmp_path / "e"))
    message = str(info.value)
    key = options.get("name", "key")
    assert repr(key) in message, message
    assert hook in message, message
    assert rule in message, message


@pytest.mark.parametrize("hook", ["training_step", "on_train_epoch_end", "on_train_batch_end"])
def test_good_calls_pass_on_both(hook: str, tmp_path: Any) -> None:
    for kind in ("lightning", "engine"):
        _fit(kind, hook, 1.0, {}, str(tmp_path / kind))


def test_log_without_trainer_warns_and_does_nothing() -> None:
    module = _module("engine", "training_step", 1.0, {})
    with pytest.warns(UserWarning, match="not attached to a Trainer"):
        module.training_step((torch.ones(1, 1),), 0)


def test_add_dataloader_idx_false_with_two_loaders_is_refused_as_in_lightning() -> None:
    """The same key from two loaders without the suffix: Lightning refuses it (the options differ by loader)."""
    from loophooks.engine._log_options import LoggingError

    loaders = [DataLoader(TensorDataset(torch.arange(1.0, 6.0).view(-1, 1)), batch_size=2) for _ in range(2)]
    for kind in ("lightning", "engine"):
        if kind == "lightning":
            import pytorch_lightning as pl

            base: Any = pl.LightningModule
            trainer: Any = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                                      enable_model_summary=False)
        else:
            from loophooks.engine import LoopModule, Trainer

            base = LoopModule
            trainer = Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)

        class Two(base):  # type: ignore[misc,valid-type]
            def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
                self.log("v", batch[0].mean(), add_dataloader_idx=False)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(LoggingError if kind == "engine" else Exception, match="twice in"):
                trainer.test(Two(), loaders, verbose=False)
