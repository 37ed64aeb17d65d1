"""validate()/test() print Lightning's results table (unless verbose=False): the same text as Lightning's."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset


def _module(base: Any) -> Any:
    class Evaluated(base):  # type: ignore[misc,valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(1, 1)

        def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
            self.log("score", batch[0].mean())
            self.log("a_rather_long_metric_name_for_wrapping", float(batch_idx), reduce_fx="max")

    return Evaluated()


def _loaders() -> list[DataLoader[Any]]:
    return [DataLoader(TensorDataset(torch.arange(1.0, 6.0).view(-1, 1) * (i + 1)), batch_size=2) for i in range(2)]


def _test(kind: str, verbose: bool) -> Any:
    kwargs: dict[str, Any] = dict(logger=False, enable_progress_bar=False, enable_checkpointing=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "lightning":
            import pytorch_lightning as pl

            trainer: Any = pl.Trainer(accelerator="cpu", devices=1, enable_model_summary=False, **kwargs)
            return trainer.test(_module(pl.LightningModule), _loaders(), verbose=verbose)
        from loophooks.engine import LoopModule, Trainer

        return Trainer(accelerator="cpu", **kwargs).test(_module(LoopModule), _loaders(), verbose=verbose)


@pytest.mark.lightning
def test_table_is_lightnings(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pytorch_lightning")
    monkeypatch.setenv("COLUMNS", "120")
    want_return = _test("lightning", True)
    want = capsys.readouterr().out
    got_return = _test("engine", True)
    got = capsys.readouterr().out
    assert got_return == [pytest.approx(d) for d in want_return]
    table = [line for line in want.splitlines() if "Metric" in line or "score" in line or "DataLoader" in line]
    assert table, want
    assert [line for line in got.splitlines() if line in table] == table


def test_verbose_false_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    _test("engine", False)
    assert capsys.readouterr().out == ""
