"""The progress bar: prog_bar metrics, Lightning's refresh rate, plain lines in a file, enable_progress_bar."""

from __future__ import annotations

import io
import sys
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from loophooks.callbacks import ProgressBar, RichProgressBar, TQDMProgressBar
from loophooks.engine import LoopModule, Trainer
from loophooks.engine._errors import ConfigurationError


class Logs(LoopModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        self.log("loss", float(batch_idx), on_step=True, on_epoch=True, prog_bar=True)
        self.log("quiet", 1.0)
        return self.layer(batch[0]).sum()

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.01)


def _fit(**kwargs: Any) -> Trainer:
    options: dict[str, Any] = dict(max_epochs=2, enable_checkpointing=False, logger=False)
    options.update(kwargs)
    trainer = Trainer(accelerator="cpu", **options)
    trainer.fit(Logs(), DataLoader(TensorDataset(torch.arange(8.0).view(-1, 1)), batch_size=2))
    return trainer


def test_plain_lines_when_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    _fit(callbacks=[TQDMProgressBar()])
    out = capsys.readouterr().out
    assert "\r" not in out
    lines = [line for line in out.splitlines() if line.startswith("Epoch")]
    # each epoch: its last batch (step values), then the epoch's end (epoch values); earlier refreshes are
    # within LINE_INTERVAL_S of each other and skipped
    assert lines[-1].startswith("Epoch 1: 4/4") and "loss_epoch=1.5" in lines[-1] and "quiet" not in lines[-1]
    assert any("loss_step=3" in line for line in lines)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_tqdm_bars_on_a_terminal_follow_refresh_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = Terminal()
    monkeypatch.setattr(sys, "stdout", screen)
    bar = TQDMProgressBar(refresh_rate=2)
    refreshed: list[int] = []
    original = bar._should_update

    def spy(current: int, total: Any) -> bool:
        due = original(current, total)
        if due:
            refreshed.append(current)
        return due

    monkeypatch.setattr(bar, "_should_update", spy)
    _fit(callbacks=[bar])
    text = screen.getvalue()
    assert "Epoch 1" in text and "loss_step=" in text and "loss_epoch=" in text
    assert refreshed == [2, 4, 2, 4]  # every 2nd batch and each epoch's last (Lightning's rule)


def test_refresh_rate_zero_and_disable_show_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    _fit(callbacks=[TQDMProgressBar(refresh_rate=0)])
    assert "Epoch" not in capsys.readouterr().out
    bar = TQDMProgressBar()
    bar.disable()
    _fit(callbacks=[bar])
    assert "Epoch" not in capsys.readouterr().out


def test_enable_progress_bar_false_removes_it(capsys: pytest.CaptureFixture[str]) -> None:
    trainer = _fit(enable_progress_bar=False, enable_model_summary=False)  # with rich, the summary prints
    assert not any(isinstance(c, ProgressBar) for c in trainer.callbacks)
    assert capsys.readouterr().out == ""
    with pytest.raises(ConfigurationError, match=r"enable_progress_bar=False.*TQDMProgressBar"):
        Trainer(accelerator="cpu", enable_progress_bar=False, callbacks=[TQDMProgressBar()])
    with pytest.raises(ConfigurationError, match="2 progress bars"):
        Trainer(accelerator="cpu", callbacks=[TQDMProgressBar(), TQDMProgressBar()])


def test_v_num_is_the_loggers_version(tmp_path: Any) -> None:
    from loophooks.loggers import CSVLogger

    trainer = _fit(logger=CSVLogger(str(tmp_path), version=7), callbacks=[TQDMProgressBar()])
    bar = next(c for c in trainer.callbacks if isinstance(c, TQDMProgressBar))
    metrics = bar.get_metrics(trainer, trainer.lightning_module)
    assert metrics["v_num"] == 7 and metrics["loss_epoch"] == pytest.approx(1.5)


def test_rich_progress_bar_needs_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    from loophooks.engine import _extras

    monkeypatch.setattr(_extras, "rich_available", lambda: False)
    with pytest.raises(ModuleNotFoundError, match=r"loophooks\[rich\]"):
        RichProgressBar()


def test_default_bar_without_rich_is_tqdm(without_rich_defaults: None) -> None:
    assert [type(c) for c in Trainer(logger=False).callbacks if isinstance(c, ProgressBar)] == [TQDMProgressBar]
