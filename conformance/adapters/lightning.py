"""The adapter for the real PyTorch Lightning ``Trainer``, 2.0 to 2.6.

Importing this module never needs Lightning; the first use of
:class:`LightningAdapter` does, and says so clearly when it is missing.
Releases before 2.6 differ in a few hooks; the adapter bridges what is only a
name (and says so in :attr:`LightningAdapter.notes`), and leaves every real
difference of order for the suite to report (docs/LIGHTNING-COMPATIBILITY.md).
The trainer runs without logger, progress bar, model summary or checkpoint
callback (each would add hooks of its own), deterministically, on the CPU unless
the settings ask for a GPU.
"""

from __future__ import annotations

import importlib
import logging
import re
import warnings
from typing import Any

from typing_extensions import final

from loophooks.conformance._adapter import CAPABILITIES, TrainerSettings
from loophooks.spec import Stage

__all__ = ["LightningAdapter", "LightningUnavailableError"]


class LightningUnavailableError(ImportError):
    """PyTorch Lightning is needed for this adapter and is not installed."""


def _lightning() -> Any:
    try:
        return importlib.import_module("pytorch_lightning")
    except ImportError as error:
        raise LightningUnavailableError(
            "loophooks.conformance.adapters.lightning: the Lightning adapter needs `pytorch_lightning` 2.6 "
            "(pip install 'loophooks[lightning]'); it is not importable here: " + str(error)
        ) from error


def _release(version: str) -> tuple[int, int]:
    """``(major, minor)`` of a version string such as ``2.0.9.post0``."""
    found = re.match(r"(\d+)\.(\d+)", version)
    if found is None:
        raise LightningUnavailableError(f"loophooks: cannot read pytorch_lightning's version {version!r}")
    return int(found.group(1)), int(found.group(2))


_RENAMED_CONFIGURE_MODEL = (
    "Lightning {version} calls configure_sharded_model where 2.1 and later call configure_model "
    "(the 2.1 rename); the adapter's base class forwards the one to the other"
)


def _module_base(pl: Any) -> type[Any]:
    """``LightningModule``, or for releases before 2.1 a subclass that forwards the old hook name.

    Lightning 2.0 calls ``configure_sharded_model`` at the point where 2.1 calls
    ``configure_model``: the same hook under its old name, so the adapter maps the
    name (as an adapter maps option names) and the suite compares what happens.
    """
    base: type[Any] = pl.LightningModule
    if _release(pl.__version__) >= (2, 1) or hasattr(base, "configure_model"):
        return base

    class LightningModule20(base):  # type: ignore[misc]
        def configure_sharded_model(self) -> None:
            self.configure_model()

        def configure_model(self) -> None:
            return None

    return LightningModule20


# Lightning logs and warns about things the scenarios do on purpose (tiny loaders, no workers)
_QUIET_LOGGERS = ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric")
_IGNORED_WARNINGS = (
    r".*does not have many workers.*",
    r".*is smaller than the logging interval.*",
    r".*GPU available but not used.*",
    r".*You have overridden .* in .*LightningModule.* and .*LightningDataModule.*",
    r".*`training_step` returned `None`.*",
    r".*resuming from a checkpoint that ended before the epoch ended.*",
    r".*Found .* module\(s\) in eval mode.*",
    r".*configure_sharded_model.*",
    r".*precision.*",
    r".*Checkpoint directory.*exists and is not empty.*",
    r".*LeafSpec.*is deprecated.*",
    r".*Total length of .* across ranks is zero.*",
    r".*Detected call of `lr_scheduler.step\(\)` before `optimizer.step\(\)`.*",  # -1 on an epoch's first batch
)


@final
class LightningAdapter:
    """Runs scenarios on ``pytorch_lightning.Trainer``."""

    name = "lightning"
    capabilities = CAPABILITIES - {"distributed"}

    def __init__(self) -> None:
        self._pl: Any = None
        self._module_base: type[Any] | None = None

    @property
    def pl(self) -> Any:
        if self._pl is None:
            self._pl = _lightning()
        return self._pl

    @property
    def module_base(self) -> type[Any]:
        if self._module_base is None:
            self._module_base = _module_base(self.pl)
        return self._module_base

    @property
    def notes(self) -> tuple[str, ...]:
        """What this Lightning release lacks that the adapter bridges (empty for 2.1 and later)."""
        if _release(self.version) < (2, 1):
            return (_RENAMED_CONFIGURE_MODEL.format(version=self.version),)
        return ()

    @property
    def callback_base(self) -> type[Any]:
        return self.pl.Callback  # type: ignore[no-any-return]

    @property
    def datamodule_base(self) -> type[Any] | None:
        return self.pl.LightningDataModule  # type: ignore[no-any-return]

    @property
    def version(self) -> str:
        return str(self.pl.__version__)

    def run(
        self,
        fn: Stage,
        model: Any,
        *,
        settings: TrainerSettings,
        callbacks: list[Any],
        dataloaders: dict[str, Any] | None = None,
        datamodule: Any | None = None,
        ckpt_path: str | None = None,
        return_predictions: bool | None = None,
    ) -> Any:
        pl = self.pl
        options: dict[str, Any] = {
            "logger": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "enable_checkpointing": False,
            "deterministic": True,
            "accelerator": "cpu",
            "devices": 1,
        }
        options.update(settings)
        for name in _QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
        with warnings.catch_warnings():
            for pattern in _IGNORED_WARNINGS:
                warnings.filterwarnings("ignore", message=pattern)
            trainer = pl.Trainer(callbacks=callbacks, **options)
            loaders = dataloaders or {}
            if fn == "fit":
                if datamodule is not None:
                    return trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
                return trainer.fit(
                    model,
                    train_dataloaders=loaders.get("train"),
                    val_dataloaders=loaders.get("val"),
                    ckpt_path=ckpt_path,
                )
            if fn == "validate":
                if datamodule is not None:
                    return trainer.validate(model, datamodule=datamodule, ckpt_path=ckpt_path, verbose=False)
                return trainer.validate(model, dataloaders=loaders.get("val"), ckpt_path=ckpt_path, verbose=False)
            if fn == "test":
                if datamodule is not None:
                    return trainer.test(model, datamodule=datamodule, ckpt_path=ckpt_path, verbose=False)
                return trainer.test(model, dataloaders=loaders.get("test"), ckpt_path=ckpt_path, verbose=False)
            if fn == "predict":
                if datamodule is not None:
                    return trainer.predict(
                        model, datamodule=datamodule, ckpt_path=ckpt_path, return_predictions=return_predictions
                    )
                return trainer.predict(
                    model,
                    dataloaders=loaders.get("predict"),
                    ckpt_path=ckpt_path,
                    return_predictions=return_predictions,
                )
        raise ValueError(f"LightningAdapter.run: fn must be one of fit, validate, test, predict; got {fn!r}")
