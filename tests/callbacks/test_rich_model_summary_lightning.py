"""RichModelSummary against Lightning's: the same table and totals on rich's console, the same options.

The tables are compared as printed, escape codes included, on a console of fixed
width that claims to be a truecolor terminal (the ``rich_console`` fixture).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("rich")


def _module(base: type, example: bool) -> Any:
    class Net(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.block = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Dropout(0.1))
            self.norm = torch.nn.BatchNorm1d(16)
            self.norm.eval()
            self.head = torch.nn.Linear(16, 2)
            self.head.requires_grad_(False)
            self.scale = torch.nn.Parameter(torch.ones(1))  # held by the module itself: "other params"
            if example:
                self.example_input_array = torch.zeros(3, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.norm(self.block(x))) * self.scale

    return Net()


def _print(summary_cls: Any, summary: Any, data: Any, **kwargs: Any) -> None:
    summary_cls.summarize(
        data,
        summary.total_parameters,
        summary.trainable_parameters,
        summary.model_size,
        summary.total_training_modes,
        total_flops=summary.total_flops,
        **kwargs,
    )


@pytest.mark.parametrize("style", [None, "bold green"])
@pytest.mark.parametrize("example", [False, True])
@pytest.mark.parametrize("max_depth", [1, -1])
def test_rich_table_prints_as_lightnings(max_depth: int, example: bool, style: Any, rich_console: Any) -> None:
    pytest.importorskip("pytorch_lightning")
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import RichModelSummary as LightningRich
    from pytorch_lightning.utilities.model_summary import summarize as pl_summarize

    from loophooks.callbacks import RichModelSummary
    from loophooks.engine import LoopModule
    from loophooks.engine.callbacks._model_summary import summarize

    kwargs = {} if style is None else {"header_style": style}
    theirs = pl_summarize(_module(pl.LightningModule, example), max_depth=max_depth)
    _print(LightningRich, theirs, theirs._get_summary_data(), **kwargs)
    expected = rich_console.file.getvalue()
    rich_console.file.truncate(0)
    rich_console.file.seek(0)
    ours = summarize(_module(LoopModule, example), max_depth=max_depth)
    _print(RichModelSummary, ours, ours.columns(), **kwargs)
    assert "Total FLOPs" in expected and "\x1b[" in expected  # a styled table was drawn
    assert rich_console.file.getvalue() == expected


def test_default_summary_in_fit_prints_lightnings_rich_table(both: Any, rich_console: Any) -> None:
    starts: list[int] = []

    def no_callbacks(module: Any, folder: Path) -> list[Any]:
        starts.append(rich_console.file.tell())  # called as each run starts: Lightning's, then the engine's
        return []

    lightning, engine = both(no_callbacks, max_epochs=1, enable_model_summary=True)
    assert lightning.error is None and engine.error is None
    printed = rich_console.file.getvalue()
    theirs, ours = printed[starts[0] : starts[1]], printed[starts[1] :]
    assert "Total FLOPs" in theirs and ours == theirs


def test_a_subclass_summarize_gets_the_keywords_as_in_lightning() -> None:
    pytest.importorskip("pytorch_lightning")
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import ModelSummary as LightningSummary

    from loophooks.callbacks import ModelSummary
    from loophooks.engine import LoopModule, Trainer

    seen: list[tuple[list[str], int, dict[str, Any]]] = []

    def record(data: Any, total: int, trainable: int, size: float, modes: Any, total_flops: int, **kw: Any) -> None:
        seen.append(([title for title, _ in data], total, kw))

    class Theirs(LightningSummary):
        summarize = staticmethod(record)

    class Ours(ModelSummary):
        summarize = staticmethod(record)

    Theirs(max_depth=1, colour="red").on_fit_start(pl.Trainer(logger=False), _module(pl.LightningModule, False))
    Ours(max_depth=1, colour="red").on_fit_start(Trainer(logger=False), _module(LoopModule, False))
    assert len(seen) == 2 and seen[0] == seen[1] and seen[0][2] == {"colour": "red"}


def test_options_are_lightnings_or_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from loophooks.callbacks import RichModelSummary
    from loophooks.engine import _extras
    from loophooks.engine._errors import ConfigurationError

    assert RichModelSummary(max_depth=2, header_style="bold blue")._max_depth == 2
    with pytest.raises(ConfigurationError, match=r"\['width'\] are not supported"):
        RichModelSummary(width=3)
    with pytest.raises(ConfigurationError, match=r"header_style='no such style'"):
        RichModelSummary(header_style="no such style")
    with pytest.raises(ConfigurationError, match=r"header_style=\.\.\.\) must be a rich style"):
        RichModelSummary(header_style=3)
    with pytest.raises(ConfigurationError, match=r"RichModelSummary\(max_depth=\.\.\.\)"):
        RichModelSummary(max_depth=-2)
    monkeypatch.setattr(_extras, "rich_available", lambda: False)
    with pytest.raises(ModuleNotFoundError, match=r"loophooks\[rich\]"):
        RichModelSummary()
