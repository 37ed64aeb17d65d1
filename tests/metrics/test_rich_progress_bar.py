"""RichProgressBar against Lightning's: the rows each shows at every hook, on a recorded console.

One job (fit with a sanity check and two validation loaders, then test on two loaders and predict)
runs through Lightning and through the engine with a ``RichProgressBar`` writing to
a recorded console that claims to be a terminal. A probe callback after the bar
renders, at each batch and epoch end, every visible row's description, batch count
and metrics text with the bar's own columns. Time, speed and the bar's length
depend on the clock and are left out; everything else must be equal.
"""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

rich = pytest.importorskip("rich")

# the columns of a row: description, bar, count, time, speed, metrics (Lightning's order, and the engine's)
_COMPARED = (0, 2, 5)


def _loader(n: int) -> DataLoader[Any]:
    return DataLoader(TensorDataset(torch.arange(float(2 * n)).view(-1, 1)), batch_size=2)


class _Stream(torch.utils.data.IterableDataset):  # type: ignore[type-arg]
    """Four batches from a loader without a length: the bar's total is unknown."""

    def __iter__(self) -> Any:
        return iter([torch.tensor([float(i)]) for i in range(8)])


def _stream() -> DataLoader[Any]:
    return DataLoader(_Stream(), batch_size=2)


def _job(base: type) -> Any:
    class Job(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(1, 1)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            self.log("loss", float(batch_idx) / 3, on_step=True, on_epoch=True, prog_bar=True)
            self.log("hidden", 1.0)
            self.log("count", float(self.trainer.global_step), prog_bar=True)
            return self.layer(batch[0] if isinstance(batch, list) else batch).sum()

        def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
            self.log("val", float(batch_idx + 10 * dataloader_idx), prog_bar=True)

        def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
            self.log("score", 0.5, prog_bar=True)

        def predict_step(self, batch: Any, batch_idx: int) -> Any:
            return batch[0]

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    return Job()


def _styled(cell: Any) -> str:
    """A cell as a truecolor terminal shows it: its text with the escape codes of its styles."""
    from rich.console import Console

    console = Console(file=io.StringIO(), force_terminal=True, color_system="truecolor", width=400)
    console.print(cell, end="")
    return console.file.getvalue()  # type: ignore[no-any-return, attr-defined]


def _probe(base: type, seen: list[tuple[str, list[tuple[str, ...]]]]) -> Any:
    """A callback that records the bar's visible rows as its hooks run (it comes after the bar)."""

    class Probe(base):  # type: ignore[misc, valid-type]
        def _rows(self, trainer: Any, where: str) -> None:
            bar = trainer.progress_bar_callback if hasattr(trainer, "progress_bar_callback") else None
            bar = bar or next(c for c in trainer.callbacks if type(c).__name__ == "RichProgressBar")
            progress = bar.progress
            rows = []
            for task in progress.tasks:
                if task.visible:
                    cells = [progress.columns[i](task) for i in _COMPARED]
                    plain = tuple(cell.plain if hasattr(cell, "plain") else str(cell) for cell in cells)
                    rows.append(plain + tuple(_styled(cell) for cell in cells))
            seen.append((where, rows))

        def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
            self._rows(trainer, "train_batch_end")

        def on_train_epoch_end(self, trainer: Any, *args: Any) -> None:
            self._rows(trainer, "train_epoch_end")

        def on_validation_batch_end(self, trainer: Any, *args: Any, **kwargs: Any) -> None:
            self._rows(trainer, "validation_batch_end")

        def on_validation_end(self, trainer: Any, *args: Any) -> None:
            self._rows(trainer, "validation_end")

        def on_test_batch_end(self, trainer: Any, *args: Any, **kwargs: Any) -> None:
            self._rows(trainer, "test_batch_end")

        def on_predict_batch_end(self, trainer: Any, *args: Any, **kwargs: Any) -> None:
            self._rows(trainer, "predict_batch_end")

    return Probe()


def _run(framework: str, tmp_path: Any, *, leave: bool = False) -> tuple[list[Any], str]:
    """Fit, test and predict; with ``leave``, fit alone on a training loader without a length."""
    if framework == "lightning":
        pytest.importorskip("pytorch_lightning")
        import pytorch_lightning as pl
        from pytorch_lightning.callbacks import Callback, RichProgressBar
        from pytorch_lightning.callbacks.progress.rich_progress import RichProgressBarTheme
        from pytorch_lightning.loggers import CSVLogger

        base, trainer_cls, extra = pl.LightningModule, pl.Trainer, {"devices": 1}
    else:
        from loophooks.callbacks import Callback, RichProgressBar, RichProgressBarTheme  # type: ignore[assignment]
        from loophooks.engine import LoopModule, Trainer
        from loophooks.loggers import CSVLogger  # type: ignore[assignment]

        base, trainer_cls, extra = LoopModule, Trainer, {}
    seen: list[tuple[str, list[tuple[str, ...]]]] = []
    screen = io.StringIO()
    # refresh_rate: the engine's bar brings its rows up to date when it draws, so it draws at every hook here and
    # the probe sees what a redraw would show; Lightning's updates its rows at every hook whatever the rate (its
    # thread only draws them), so it keeps a rate its thread can idle at.
    # width: wide enough that no row wraps, whatever width the speed's digits take
    rate = 10 if framework == "lightning" else 10**9
    # the leave run also takes a theme of its own (each framework's theme class, the same values)
    theme = RichProgressBarTheme(description="bold cyan", batch_progress="green", metrics="yellow on black",
                                 metrics_text_delimiter=" | ", metrics_format=".2f") if leave else RichProgressBarTheme()
    bar = RichProgressBar(
        refresh_rate=rate,
        leave=leave,
        theme=theme,
        console_kwargs={"file": screen, "force_terminal": True, "width": 400, "color_system": "truecolor"},
    )
    trainer = trainer_cls(
        max_epochs=2,
        accelerator="cpu",
        logger=CSVLogger(str(tmp_path / framework), version=12345),
        enable_checkpointing=False,
        enable_model_summary=False,
        callbacks=[bar, _probe(Callback, seen)],
        **extra,
    )
    torch.manual_seed(0)
    model = _job(base)
    if leave:
        trainer.fit(model, _stream(), _loader(2))
        return seen, screen.getvalue()
    trainer.fit(model, _loader(4), [_loader(2), _loader(3)])
    trainer.test(model, [_loader(2), _loader(1)], verbose=False)
    trainer.predict(model, _loader(3))
    return seen, screen.getvalue()


def _both(tmp_path_factory: pytest.TempPathFactory, leave: bool) -> dict[str, tuple[list[Any], str]]:
    saved = rich._console
    rich._console = None  # console_kwargs reconfigure rich's global console: a fresh one, dropped after
    try:
        return {name: _run(name, tmp_path_factory.mktemp(name), leave=leave) for name in ("lightning", "engine")}
    finally:
        rich._console = saved


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[list[Any], str]]:
    return _both(tmp_path_factory, leave=False)


@pytest.fixture(scope="module")
def left(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[list[Any], str]]:
    return _both(tmp_path_factory, leave=True)


def test_rows_at_every_hook_are_lightnings(runs: dict[str, tuple[list[Any], str]]) -> None:
    theirs, ours = runs["lightning"][0], runs["engine"][0]
    assert len(theirs) > 20
    # what the comparison covers: descriptions, counts, the metrics text with v_num and prog_bar values only
    rows = [row for _, rows in theirs for row in rows]
    assert ("Epoch 1/1 ", "4/4") in [row[:2] for row in rows] and ("Testing", "2/2") in [row[:2] for row in rows]
    assert any("v_num: 12345.000" in row[2] and "loss_epoch:" in row[2] and "val/dataloader_idx_1: 11.000" in row[2] for row in rows)
    assert not any("hidden" in row[2] for row in rows)
    assert ours == theirs


def _final_frames(screen: str) -> list[list[str]]:
    """The rows each live display left on the terminal when it stopped, with the clock's columns (time and speed)
    and the bar's cells taken out. A display ends by showing the cursor again; within it, each redraw starts by
    erasing the previous frame's lines."""
    frames = []
    for display in screen.split("\x1b[?25h")[:-1]:
        last = re.split(r"\x1b\[2K(?:\x1b\[1A\x1b\[2K)*", display)[-1]
        text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", last)
        text = re.sub(r"\d+:\d\d:\d\d • [-\d:]+ +[\d.]+it/s", "<clock>", text)
        frames.append([" ".join(re.sub(r"[━╸╺]+", " ", line).split()) for line in text.splitlines()])
    return frames


def test_the_terminal_keeps_lightnings_last_rows(runs: dict[str, tuple[list[Any], str]]) -> None:
    theirs = _final_frames(runs["lightning"][1])
    assert len(theirs) == 3  # fit, test, predict
    assert theirs[0][0].startswith("Epoch 1/1 4/4 <clock> v_num: 12345.000")
    assert _final_frames(runs["engine"][1]) == theirs


def test_leave_and_a_loader_without_length_as_lightning(left: dict[str, tuple[list[Any], str]]) -> None:
    theirs = _final_frames(left["lightning"][1])
    # leave=True: each epoch's display stops (its rows stay) and a new one starts; the total is unknown: "--"
    assert len(theirs) == 2 and theirs[0][0].startswith("Epoch 0/1 4/-- <clock>") and " | " in theirs[0][0]
    assert "\x1b[1;36mEpoch 0/1" in left["lightning"][1] and "\x1b[33;40m" in left["lightning"][1]  # the theme
    assert _final_frames(left["engine"][1]) == theirs
    assert left["engine"][0] == left["lightning"][0]


def test_a_file_gets_readable_lines(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from loophooks.callbacks import RichProgressBar
    from loophooks.engine import LoopModule, Trainer

    saved = rich._console
    rich._console = None  # a console of its own, on pytest's captured stdout
    try:
        bar = RichProgressBar()
        bar.LINE_INTERVAL_S = 1e9  # only the ends print, however slow the machine
        trainer = Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_model_summary=False,
                          callbacks=[bar])
        model = _job(LoopModule)
        trainer.fit(model, _loader(4), _loader(2))
        trainer.test(model, _loader(2), verbose=False)
    finally:
        rich._console = saved
    out = capsys.readouterr().out
    assert "\r" not in out and "\x1b" not in out
    rows = [line for line in out.splitlines() if line.strip()]
    # a line per validation run and per epoch's end (its metrics wrap onto a second line at 80 columns), one for test
    assert [line.split()[0] for line in rows if line.split()[0] in ("Epoch", "Validation", "Testing")] == [
        "Validation", "Epoch", "Validation", "Epoch", "Testing"
    ]
    # one line a row, however wide: a log file is read by scrolling, not in 80 columns
    assert re.search(r"^Epoch 1/1 +━+ 4/4 .*loss_step: 1\.000 .*loss_epoch: 0\.500$", out, re.MULTILINE)


def test_options_are_lightnings_or_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from loophooks.callbacks import RichProgressBar, RichProgressBarTheme
    from loophooks.engine import _extras
    from loophooks.engine._errors import ConfigurationError

    bar = RichProgressBar(refresh_rate=5, leave=True, theme=RichProgressBarTheme(metrics="bold"))
    assert (bar.refresh_rate, bar.is_enabled, bar.theme.metrics) == (5, True, "bold")
    assert RichProgressBar(refresh_rate=0).is_disabled
    try:  # Lightning's own theme object works as it is
        from pytorch_lightning.callbacks.progress.rich_progress import RichProgressBarTheme as LightningTheme
    except ImportError:
        pass
    else:
        assert RichProgressBar(theme=LightningTheme(time="green")).theme.time == "green"
    refused = [
        ({"refresh_rate": -1}, r"refresh_rate=\.\.\.\) must be an int >= 0"),
        ({"theme": RichProgressBarTheme(time="no such style")}, r"time='no such style' is not a rich style"),
        ({"theme": RichProgressBarTheme(metrics_format="%d")}, r"metrics_format must be a format spec"),
        ({"theme": object()}, r"theme=\.\.\.\) has no 'description'"),
        ({"console_kwargs": {"colour": True}}, r"\['colour'\] are not arguments of rich's Console"),
        ({"console_kwargs": "wide"}, r"console_kwargs=\.\.\.\) must be a dict"),
    ]
    for kwargs, message in refused:
        with pytest.raises((ConfigurationError, ValueError), match=message):
            RichProgressBar(**kwargs)
    monkeypatch.setattr(_extras, "rich_available", lambda: False)
    with pytest.raises(ModuleNotFoundError, match=r"loophooks\[rich\]"):
        RichProgressBar()


def _terminal_fit(bar: Any, **trainer_options: Any) -> Any:
    from loophooks.engine import LoopModule, Trainer

    saved = rich._console
    rich._console = None
    try:
        trainer = Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_model_summary=False,
                          num_sanity_val_steps=0, callbacks=[bar], **trainer_options)
        trainer.fit(_job(LoopModule), _loader(4), _loader(2))
    finally:
        rich._console = saved
    return trainer


def test_redraws_follow_refresh_rate_and_loader_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    from loophooks.callbacks import RichProgressBar
    from loophooks.engine import _rich_progress

    now = [100.0]
    monkeypatch.setattr(_rich_progress.time, "monotonic", lambda: now[0])  # a clock that stands still
    screen = io.StringIO()
    bar = RichProgressBar(refresh_rate=10, console_kwargs={"file": screen, "force_terminal": True, "width": 120})
    draws: list[str] = []
    original = bar._draw

    def spy(task_id: Any) -> None:
        draws.append("row" if task_id is not None else "all")
        original(task_id)

    monkeypatch.setattr(bar, "_draw", spy)
    _terminal_fit(bar)
    # per epoch: its start, the last batch, the validation row's creation and last batch, its hiding, the
    # epoch's end; and the very first batch, due at once. The clock never moves, so no other batch is drawn.
    epoch = ["all", "row", "all", "row", "all", "row"]
    assert draws == epoch[:1] + ["row"] + epoch[1:] + epoch
    assert "Epoch 1/1" in screen.getvalue()


def test_refresh_rate_zero_shows_nothing_and_an_exception_stops_the_display() -> None:
    from loophooks.callbacks import RichProgressBar

    screen = io.StringIO()
    _terminal_fit(RichProgressBar(refresh_rate=0, console_kwargs={"file": screen, "force_terminal": True}))
    assert screen.getvalue() == ""

    bar = RichProgressBar(console_kwargs={"file": io.StringIO(), "force_terminal": True})
    with pytest.raises(RuntimeError, match="stop here"):
        _failing_fit(bar)
    assert bar.progress is not None and not bar.progress.live.is_started


def _failing_fit(bar: Any) -> None:
    from loophooks.engine import LoopModule, Trainer

    class Fails(_job(LoopModule).__class__):  # type: ignore[misc]
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            if batch_idx == 2:
                raise RuntimeError("stop here")
            return super().training_step(batch, batch_idx)

    saved = rich._console
    rich._console = None
    try:
        trainer = Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_model_summary=False,
                          callbacks=[bar])
        trainer.fit(Fails(), _loader(4))
    finally:
        rich._console = saved
