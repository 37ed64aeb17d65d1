"""The adapter for loophooks' own reference engine (``loophooks.engine.Trainer``).

The trainer runs without progress bar or checkpoint callback (each would add
hooks of its own), on the CPU unless the settings ask for a GPU.
"""

from __future__ import annotations

from typing import Any

from typing_extensions import final

from loophooks.conformance._adapter import CAPABILITIES, TrainerSettings
from loophooks.spec import Stage

__all__ = ["EngineAdapter"]


@final
class EngineAdapter:
    """Runs scenarios on ``loophooks.engine.Trainer``."""

    name = "engine"
    capabilities = CAPABILITIES  # "distributed": Trainer(strategy="ddp"), engine/_ddp.py

    @property
    def module_base(self) -> type[Any]:
        from loophooks.engine import LoopModule

        return LoopModule

    @property
    def callback_base(self) -> type[Any]:
        from loophooks.engine import Callback

        return Callback

    @property
    def datamodule_base(self) -> type[Any] | None:
        from loophooks.engine import LoopDataModule

        return LoopDataModule

    @property
    def version(self) -> str:
        from loophooks.engine._checkpoint_state import loophooks_version

        return loophooks_version()

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
        from loophooks.engine import Trainer

        options: dict[str, Any] = {
            "enable_progress_bar": False,
            "enable_checkpointing": False,
            "logger": False,  # as the Lightning adapter: loggers write files and add no hooks
            "accelerator": "cpu",
            "devices": 1,
        }
        options.update(settings)
        options.pop("deterministic", None)  # global torch state; the scenarios are deterministic on the CPU
        trainer = Trainer(callbacks=callbacks, **options)
        loaders = dataloaders or {}
        if fn == "fit":
            if datamodule is not None:
                return trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
            return trainer.fit(
                model, train_dataloaders=loaders.get("train"), val_dataloaders=loaders.get("val"), ckpt_path=ckpt_path
            )
        if fn == "validate":
            return trainer.validate(model, dataloaders=loaders.get("val"), ckpt_path=ckpt_path, datamodule=datamodule)
        if fn == "test":
            return trainer.test(model, dataloaders=loaders.get("test"), ckpt_path=ckpt_path, datamodule=datamodule)
        if fn == "predict":
            return trainer.predict(
                model,
                dataloaders=loaders.get("predict"),
                datamodule=datamodule,
                ckpt_path=ckpt_path,
                return_predictions=return_predictions,
            )
        raise ValueError(f"EngineAdapter.run: fn must be one of fit, validate, test, predict; got {fn!r}")
