"""The files a logger writes follow the umask, as Lightning's do (they were 0600 through a temporary file)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset


def _loader() -> DataLoader[Any]:
    return DataLoader(TensorDataset(torch.arange(8.0).unsqueeze(1)), batch_size=4)


def _fit(base: type, trainer_cls: type, logger_cls: type, root: Path) -> Path:
    class Model(base):  # type: ignore[misc, valid-type]
        def __init__(self, lr: float = 0.1) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.layer = torch.nn.Linear(1, 1)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            loss = self.layer(batch[0]).pow(2).mean()
            self.log("loss", loss)
            return loss

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    logger = logger_cls(str(root))
    trainer = trainer_cls(max_epochs=1, logger=logger, log_every_n_steps=1, enable_progress_bar=False,
                          enable_checkpointing=False, enable_model_summary=False)
    trainer.fit(Model(), _loader())
    return Path(logger.log_dir)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_csv_logger_files_follow_the_umask_as_lightnings(tmp_path: Path, umask: int) -> None:
    pl = pytest.importorskip("pytorch_lightning")
    from loophooks import LoopModule, Trainer
    from loophooks.loggers import CSVLogger

    old = os.umask(umask)
    try:
        theirs = _fit(pl.LightningModule, pl.Trainer, pl.loggers.CSVLogger, tmp_path / "pl")
        ours = _fit(LoopModule, Trainer, CSVLogger, tmp_path / "ours")
    finally:
        os.umask(old)
    for name in ("metrics.csv", "hparams.yaml"):
        expected = stat.S_IMODE((theirs / name).stat().st_mode)
        assert expected == 0o666 & ~umask  # Lightning's file: the umask's mode
        assert stat.S_IMODE((ours / name).stat().st_mode) == expected, name
