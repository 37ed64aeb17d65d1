"""``RichModelSummary``: the model summary drawn as a rich table (Lightning's default when ``rich`` is installed).

The rows and totals are :class:`ModelSummary`'s; only the drawing differs. Like
Lightning's, it prints to rich's global console (``rich.get_console()``, stdout
unless reconfigured) rather than logging, so a ``RichProgressBar``'s
``console_kwargs`` apply to it too.
"""

from __future__ import annotations

from typing import Any

from loophooks.engine import _extras
from loophooks.engine._errors import ConfigurationError
from loophooks.engine.callbacks._model_summary import ModelSummary, human_count

__all__ = ["RichModelSummary"]

# Each column's look, by title. Titles not listed get rich's defaults.
_COLUMN_STYLES: dict[str, dict[str, Any]] = {
    " ": {"style": "dim"},
    "Name": {"justify": "left", "no_wrap": True},
    "Params": {"justify": "right"},
    "Params per Device": {"justify": "right"},
    "FLOPs": {"justify": "right"},
    "In sizes": {"justify": "right", "style": "white"},
    "Out sizes": {"justify": "right", "style": "white"},
}
_DEFAULT_HEADER_STYLE = "bold magenta"


def _check_style(value: Any) -> None:
    from rich.errors import StyleSyntaxError
    from rich.style import Style

    if isinstance(value, Style):
        return
    if not isinstance(value, str):
        raise ConfigurationError(
            f"RichModelSummary(header_style=...) must be a rich style string or rich.style.Style; received {value!r}"
        )
    try:
        Style.parse(value)
    except StyleSyntaxError as error:
        raise ConfigurationError(f"RichModelSummary(header_style={value!r}) is not a rich style: {error}") from None


class RichModelSummary(ModelSummary):
    """Lightning's ``RichModelSummary``: ``max_depth`` as :class:`ModelSummary`; ``header_style`` (rich style of
    the header row, ``"bold magenta"`` by default) is the one keyword its ``summarize`` reads.

    Raises ``ModuleNotFoundError`` without ``rich`` >= 10.2.2 (``pip install 'loophooks[rich]'``), as Lightning's.
    """

    _SUMMARIZE_KEYWORDS = frozenset({"header_style"})

    def __init__(self, max_depth: int = 1, **summarize_kwargs: Any) -> None:
        if not _extras.rich_available():
            raise ModuleNotFoundError(
                "RichModelSummary needs the 'rich' package (>= 10.2.2): pip install 'loophooks[rich]' "
                "(or use ModelSummary)"
            )
        super().__init__(max_depth, **summarize_kwargs)
        if "header_style" in summarize_kwargs:
            _check_style(summarize_kwargs["header_style"])

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        """Print the layer table, then the totals as a grid of bold labels, on rich's global console."""
        from rich import get_console
        from rich.table import Table

        console = get_console()
        table = Table(header_style=summarize_kwargs.get("header_style", _DEFAULT_HEADER_STYLE))
        for title, _ in summary_data:
            table.add_column(title, **_COLUMN_STYLES.get(title, {}))
        for row in zip(*(values for _, values in summary_data)):
            table.add_row(*row)
        console.print(table)

        frozen = total_parameters - trainable_parameters
        totals = [
            ("Trainable params", f"{human_count(trainable_parameters):<10}"),
            ("Non-trainable params", f"{human_count(frozen):<10}"),
            ("Total params", f"{human_count(total_parameters):<10}"),
            ("Total estimated model params size (MB)", f"{model_size:<10,.3f}"),
            ("Modules in train mode", str(total_training_modes["train"])),
            ("Modules in eval mode", str(total_training_modes["eval"])),
            ("Total FLOPs", human_count(total_flops)),
        ]
        grid = Table.grid(expand=True)
        grid.add_column()
        grid.add_column()  # a second, empty column: the labels keep the width Lightning's grid gives them
        for label, value in totals:
            grid.add_row(f"[bold]{label}[/]: {value}")
        console.print(grid)
