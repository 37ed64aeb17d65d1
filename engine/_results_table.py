"""Lightning's results table, printed after ``validate``/``test`` (one column per loader; drawn with rich when present)."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

from loophooks.engine import _extras

__all__ = ["print_results"]


def print_results(results: list[dict[str, float]], stage: str, file: Any = None) -> None:
    """Print Lightning's results table for ``validate``/``test`` (one column per loader)."""
    plain = [{k.split("/dataloader_idx_")[0]: v for k, v in r.items()} for r in results]
    names = sorted({k for r in plain for k in r})
    if not names:
        return
    headers = [f"DataLoader {i}" for i in range(len(plain))]
    width_total = shutil.get_terminal_size(fallback=(120, 30)).columns or 120
    width = int(min(max(len(max(names, key=len)), len(max(headers, key=len)), 25), width_total / 2))
    rows = [[f"{r[n]}" if n in r else " " for r in plain] for n in names]
    out = file if file is not None else sys.stdout
    if _rich_table(plain, names, headers, width, width_total, stage, file):
        return
    try:
        "─".encode(getattr(out, "encoding", None) or "utf-8")
        rule = "─" * width_total
    except UnicodeEncodeError:
        rule = "-" * width_total
    per_table = max(1, int((width_total - width) / width))
    half = int(width_total / 2)
    for start in range(0, len(headers), per_table):
        cols = [f"{stage} Metric".capitalize(), *headers[start : start + per_table]]
        fmt = f"{{:^{width}}}" * len(cols)
        lines = [rule, fmt.format(*cols).rstrip(), rule]
        for name, row in zip(names, rows):
            cells = row[start : start + per_table]
            if len(name) > half:  # an over-long name wraps over several lines, as Lightning prints it
                while len(name) > half:
                    lines.append(fmt.format(name[:half], *cells).rstrip())
                    name = name[half:]
                lines.append(fmt.format(name, *[" "] * len(cells)).rstrip())
            else:
                lines.append(fmt.format(name, *cells).rstrip())
        lines.append(rule)
        print(os.linesep.join(lines), file=out)


def _rich_table(
    plain: list[dict[str, Any]], names: list[str], headers: list[str], width: int, total: int, stage: str, file: Any
) -> bool:
    """Lightning's table drawn with rich, as Lightning draws it when rich is installed; False without rich.

    Like Lightning's, it goes to rich's global console (so a ``RichProgressBar``'s ``console_kwargs`` apply).
    """
    if not _extras.rich_available():
        return False
    import rich
    from rich.console import Console
    from rich.table import Column, Table

    per_table = max(1, int((total - width) / width))
    console = Console(file=file) if file is not None else rich.get_console()
    for start in range(0, len(headers), per_table):
        cols = [f"{stage} Metric".capitalize(), *headers[start : start + per_table]]
        columns = [Column(h, justify="center", style="magenta", width=width) for h in cols]
        columns[0].style = "cyan"
        table = Table(*columns)
        for name in names:
            table.add_row(name, *[f"{r[name]}" if name in r else " " for r in plain[start : start + per_table]])
        console.print(table)
    return True
