"""ModelCheckpoint, option by option, against the real Lightning 2.6 on the same job (tests/callbacks/conftest.py).

For each configuration both runs must leave the same file names, the same
``best_model_path`` / ``best_model_score``, ``kth_best_model_path`` / ``kth_value``,
``best_k_models``, ``last_model_path`` and ``current_score``, and each file must
hold the same epoch and global step. Expected values come from the Lightning run.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import torch

pytestmark = pytest.mark.lightning


def _score(value: Any) -> float | None:
    if value is None:
        return None
    return float(value)


def _summary(run: Any) -> dict[str, Any]:
    cb = next(c for c in run.callbacks if type(c).__name__ == "ModelCheckpoint")
    files = {}
    for name in run.files():
        path = run.folder / name
        if name.endswith(".ckpt"):
            ckpt = torch.load(path, map_location="cpu", weights_only=False)
            files[name] = (ckpt["epoch"], ckpt["global_step"], "optimizer_states" in ckpt, os.path.islink(path))
        else:
            files[name] = None
    return {
        "error": type(run.error).__name__ if run.error else None,
        "files": files,
        "best_model_path": run.rel(cb.best_model_path),
        "best_model_score": _score(cb.best_model_score),
        "kth_best_model_path": run.rel(cb.kth_best_model_path),
        "kth_value": _score(cb.kth_value),
        "best_k_models": {run.rel(k): round(float(v), 6) for k, v in cb.best_k_models.items()},
        "last_model_path": run.rel(cb.last_model_path),
        "current_score": _score(cb.current_score),
        "global_step": run.trainer.global_step,
        "epoch": run.trainer.current_epoch,
    }


def _assert_same(lightning: Any, engine: Any) -> None:
    if lightning.error is not None or engine.error is not None:
        raise AssertionError(f"lightning: {lightning.error!r}\nengine: {engine.error!r}") from (
            engine.error or lightning.error
        )
    expected, got = _summary(lightning), _summary(engine)
    for key in expected:
        a, b = expected[key], got[key]
        if isinstance(a, float) and isinstance(b, float) and math.isfinite(a):
            assert b == pytest.approx(a, rel=1e-6), (key, expected, got)
        else:
            assert a == b, f"{key}: lightning {a!r}, engine {b!r}\nlightning: {expected}\nengine: {got}"


def _ckpt(**kwargs: Any) -> Callable[[Any, Path], list[Any]]:
    def make(module: Any, folder: Path) -> list[Any]:
        return [module.ModelCheckpoint(dirpath=str(folder), **kwargs)]

    return make


CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # name: (ModelCheckpoint options, Trainer options)
    "default": ({}, {}),
    "monitor-top2-min": ({"monitor": "val_loss", "save_top_k": 2}, {"max_epochs": 6}),
    "monitor-top2-max": ({"monitor": "val_loss", "save_top_k": 2, "mode": "max"}, {"max_epochs": 6}),
    "monitor-all": ({"monitor": "val_loss", "save_top_k": -1}, {}),
    "no-monitor-all": ({"save_top_k": -1}, {}),
    "top0-last": ({"save_top_k": 0, "save_last": True}, {}),
    "monitor-last": ({"monitor": "val_loss", "save_last": True}, {"max_epochs": 5}),
    "last-link": ({"save_last": "link", "monitor": "val_loss", "save_top_k": 2}, {"max_epochs": 5}),
    "last-link-no-monitor": ({"save_last": "link"}, {}),
    "steps": ({"every_n_train_steps": 3, "save_top_k": -1}, {}),
    "steps-last": ({"every_n_train_steps": 3, "save_last": True}, {}),
    "steps-monitor-train": ({"every_n_train_steps": 2, "monitor": "train_metric", "save_top_k": 2}, {}),
    "steps-monitor-val": ({"every_n_train_steps": 3, "monitor": "val_loss", "save_top_k": 2}, {}),
    "epochs-2": ({"every_n_epochs": 2, "save_top_k": -1}, {"max_epochs": 5}),
    "epochs-2-monitor": ({"every_n_epochs": 2, "monitor": "val_loss", "save_top_k": 2}, {"max_epochs": 7}),
    "filename-metrics": ({"monitor": "val_loss", "filename": "{epoch:02d}-{val_loss:.2f}", "save_top_k": 2}, {}),
    "filename-slash-metric": ({"monitor": "val/acc", "mode": "max", "filename": "{epoch}-{val/acc:.3f}"}, {}),
    "filename-no-auto": (
        {"monitor": "val_loss", "filename": "ep{epoch}-vl{val_loss:.3f}", "auto_insert_metric_name": False}, {}
    ),
    "filename-missing-key": ({"filename": "{epoch}-{nothing_logged}"}, {}),
    "version-counter": ({"filename": "fixed", "save_top_k": -1}, {}),
    "no-version-counter": ({"filename": "fixed", "save_top_k": -1, "enable_version_counter": False}, {}),
    "weights-only": ({"save_weights_only": True, "save_last": True}, {}),
    # an epoch-level training metric, with and without validation inside the epoch
    "train-epoch-end": ({"save_on_train_epoch_end": True, "monitor": "train_epoch_metric", "save_top_k": 2}, {}),
    "train-epoch-end-no-val": (
        {"save_on_train_epoch_end": True, "monitor": "train_epoch_metric", "save_top_k": 2}, {"limit_val_batches": 0}
    ),
    "train-epoch-end-false": ({"save_on_train_epoch_end": False, "save_top_k": -1}, {}),
    "val-interval": ({"monitor": "val_loss", "save_top_k": 2}, {"val_check_interval": 0.5}),
    "val-every-2": ({"monitor": "val_loss", "save_top_k": 2, "save_last": True}, {"check_val_every_n_epoch": 2,
                                                                                    "max_epochs": 5}),
    "no-val": ({"save_top_k": -1, "save_last": True}, {"limit_val_batches": 0}),
    "max-steps-mid-epoch": ({"save_last": True, "every_n_train_steps": 2}, {"max_steps": 7}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_same_files_and_paths_as_lightning(both: Any, case: str) -> None:
    options, trainer_options = CASES[case]
    _assert_same(*both(_ckpt(**options), **trainer_options))


def test_time_interval_as_lightning(both: Any) -> None:
    # an interval far below a step's duration: every step saves, in both (the clock cannot make them differ)
    lightning, engine = both(_ckpt(train_time_interval=timedelta(microseconds=1), save_top_k=-1), max_epochs=2)
    _assert_same(lightning, engine)
    assert len(engine.files()) == 2 * 4


def test_several_checkpoint_callbacks_as_lightning(both: Any) -> None:
    def make(module: Any, folder: Path) -> list[Any]:
        return [
            module.ModelCheckpoint(dirpath=str(folder), monitor="val_loss", save_top_k=2, filename="best-{epoch}"),
            module.ModelCheckpoint(dirpath=str(folder), every_n_train_steps=5, save_top_k=-1, filename="s-{step}"),
        ]

    lightning, engine = both(make)
    assert lightning.error is None and engine.error is None, (lightning.error, engine.error)
    assert engine.files() == lightning.files()
    for a, b in zip(lightning.callbacks, engine.callbacks):
        assert engine.rel(b.best_model_path) == lightning.rel(a.best_model_path)
        assert b.state_key == a.state_key


def test_save_on_exception_as_lightning(both: Any) -> None:
    def fail(module: Any, batch_idx: int) -> None:
        if module.trainer.current_epoch == 1 and batch_idx == 2:
            raise KeyError("boom")

    lightning, engine = both(_ckpt(save_on_exception=True, save_last=True), extra=fail)
    assert isinstance(lightning.error, KeyError) and isinstance(engine.error, KeyError)
    assert engine.files() == lightning.files()
    assert engine.rel(engine.callbacks[0].last_model_path) == lightning.rel(lightning.callbacks[0].last_model_path)


def test_verbose_messages_as_lightning(both: Any, logs: Any) -> None:
    with logs("pytorch_lightning.utilities.rank_zero", "loophooks") as records:
        lightning, engine = both(_ckpt(monitor="val_loss", verbose=True, save_top_k=1), max_epochs=3)
    messages: dict[str, list[str]] = {"lightning": [], "engine": []}
    for name, text in records:
        if "global step" in text:
            who = "engine" if name.startswith("loophooks") else "lightning"
            messages[who].append(text.replace(str(lightning.folder), "DIR").replace(str(engine.folder), "DIR"))
    assert messages["lightning"] and messages["engine"] == messages["lightning"]


def test_to_yaml_as_lightning(both: Any) -> None:
    yaml = pytest.importorskip("yaml")
    lightning, engine = both(_ckpt(monitor="val_loss", save_top_k=3), max_epochs=5)
    for run in (lightning, engine):
        run.callbacks[0].to_yaml()
    read = [yaml.safe_load((run.folder / "best_k_models.yaml").read_text()) for run in (lightning, engine)]
    expected = {lightning.rel(k): v for k, v in read[0].items()}
    got = {engine.rel(k): v for k, v in read[1].items()}
    assert got == pytest.approx(expected)


def test_state_dict_keys_as_lightning(both: Any) -> None:
    lightning, engine = both(_ckpt(monitor="val_loss", save_top_k=2), max_epochs=3)
    a, b = lightning.callbacks[0].state_dict(), engine.callbacks[0].state_dict()
    assert sorted(a) == sorted(b)
    assert engine.callbacks[0].state_key == lightning.callbacks[0].state_key


def test_a_monitored_key_never_logged_is_an_error(both: Any) -> None:
    lightning, engine = both(_ckpt(monitor="val_los"))  # a typo
    assert type(lightning.error).__name__ == "MisconfigurationException"
    assert engine.error is not None
    message = str(engine.error)
    assert "'val_los'" in message and "val_loss" in message and "train_metric" in message
    assert engine.trainer.current_epoch == lightning.trainer.current_epoch == 0  # both stop at the first check
    assert engine.files() == lightning.files() == []


def test_a_monitored_key_never_logged_without_validation_is_an_error(one: Any) -> None:
    """Lightning warns and trains on, saving nothing; the engine refuses at the first check instead."""
    engine = one("engine", _ckpt(monitor="val_los"), limit_val_batches=0)
    assert engine.error is not None and "'val_los'" in str(engine.error)
    assert engine.trainer.current_epoch == 0


BAD = [
    {"save_top_k": 2},  # top-k without a monitor
    {"save_top_k": -2},
    {"every_n_train_steps": -1},
    {"every_n_epochs": -1},
    {"every_n_epochs": 2, "every_n_train_steps": 3},
    {"every_n_train_steps": 3, "train_time_interval": timedelta(seconds=1)},
    {"mode": "maximum"},
]


@pytest.mark.parametrize("options", BAD, ids=[",".join(f"{k}={v}" for k, v in o.items()) for o in BAD])
def test_invalid_options_are_refused_as_lightning(options: dict[str, Any]) -> None:
    pytest.importorskip("pytorch_lightning")
    import pytorch_lightning.callbacks as plc

    import loophooks.callbacks as lhc
    from loophooks.engine import ConfigurationError

    with pytest.raises(Exception) as lightning:
        plc.ModelCheckpoint(**options)
    assert type(lightning.value).__name__ == "MisconfigurationException"
    with pytest.raises(ConfigurationError, match="ModelCheckpoint"):
        lhc.ModelCheckpoint(**options)


def test_checkpointing_off_with_a_model_checkpoint_is_refused_as_lightning() -> None:
    pytest.importorskip("pytorch_lightning")
    import pytorch_lightning as pl

    from loophooks.callbacks import ModelCheckpoint
    from loophooks.engine import ConfigurationError, Trainer

    with pytest.raises(Exception, match="enable_checkpointing=False"):
        pl.Trainer(enable_checkpointing=False, callbacks=[pl.callbacks.ModelCheckpoint()], logger=False)
    with pytest.raises(ConfigurationError, match="enable_checkpointing=False"):
        Trainer(enable_checkpointing=False, callbacks=[ModelCheckpoint()])


def test_format_checkpoint_name_as_lightning() -> None:
    pytest.importorskip("pytorch_lightning")
    import pytorch_lightning.callbacks as plc

    import loophooks.callbacks as lhc

    metrics = {"epoch": 2, "val_loss": 0.123456, "step": 17, "val/acc": torch.tensor(0.5)}
    for options, kwargs in [
        ({"filename": "{epoch}"}, {}),
        ({"filename": "{epoch:03d}"}, {}),
        ({"filename": "{epoch}-{val_loss:.2f}"}, {}),
        ({"filename": "{epoch}-{val_loss:.2f}"}, {"filename": "{epoch:d}"}),
        ({"filename": "e={epoch}-v={val_loss:.2f}", "auto_insert_metric_name": False}, {}),
        ({"filename": "{missing:d}"}, {}),
        ({"filename": "{val/acc:.1f}-{step}"}, {"ver": 3}),
        ({}, {"prefix": "pre"}),
    ]:
        a = plc.ModelCheckpoint(dirpath="/d", **options).format_checkpoint_name(dict(metrics), **kwargs)
        b = lhc.ModelCheckpoint(dirpath="/d", **options).format_checkpoint_name(dict(metrics), **kwargs)
        assert b == a, (options, kwargs)


def test_folder_from_the_logger_as_lightning(tmp_path: Path) -> None:
    """Without dirpath: the first logger's save_dir/name/version/checkpoints, as Lightning resolves it."""
    pytest.importorskip("pytorch_lightning")
    import pytorch_lightning as pl
    from pytorch_lightning.loggers import CSVLogger as LightningCSV

    from loophooks.callbacks import ModelCheckpoint
    from loophooks.engine import LoopModule, Trainer
    from loophooks.loggers import CSVLogger

    from .conftest import module_class

    paths = []
    for base, trainer_cls, logger_cls, checkpoint_cls, root, extra in (
        (pl.LightningModule, pl.Trainer, LightningCSV, pl.callbacks.ModelCheckpoint, tmp_path / "pl",
         {"accelerator": "cpu", "devices": 1}),
        (LoopModule, Trainer, CSVLogger, ModelCheckpoint, tmp_path / "lh", {}),
    ):
        cb = checkpoint_cls(save_last=True)
        trainer = trainer_cls(max_epochs=2, callbacks=[cb], logger=logger_cls(save_dir=str(root / "logs")),
                              enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(root),
                              num_sanity_val_steps=0, **extra)
        trainer.fit(module_class(base)())
        paths.append((os.path.relpath(cb.best_model_path, root), os.path.relpath(cb.last_model_path, root)))
    assert paths[1] == paths[0]
