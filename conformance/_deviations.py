"""Declared deviations: cases a trainer is known not to conform on, each with a reason.

A framework keeps its known differences in a file and hands it to the suite
(``--loophooks-deviations PATH``). A declared case that fails is reported as a
*deviation* (pytest: xfail); a declared case that passes is reported as
*xpassed* and counts as a failure, so a file never outlives the differences it
lists.

The file is JSON (or TOML where ``tomllib``/``tomli`` is importable)::

    {"deviations": [
        {"id": "resume-mid-epoch-*", "reason": "restores batch_idx one batch late"},
        {"id": "fault-cpu", "reason": "...", "levels": ["strict"]}
    ]}

``id`` is a case id or an ``fnmatch`` pattern over case ids; ``levels`` limits
the entry to some validation levels (both when absent); ``about`` (at the top
or in an entry) is a free comment. In TOML, entries are ``[[deviations]]`` tables.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from typing_extensions import final

__all__ = ["LEVELS", "Deviation", "Deviations", "Level", "load_deviations"]

Level = Literal["strict", "core"]
LEVELS: Final[tuple[Level, ...]] = ("strict", "core")


@final
@dataclass(frozen=True)
class Deviation:
    """One declared case (or pattern of cases) and why it does not conform."""

    id: str
    reason: str
    levels: frozenset[Level] = frozenset(LEVELS)
    source: str = ""
    """Where it was declared (a file path), for messages."""

    def covers(self, case_id: str, level: Level) -> bool:
        return level in self.levels and fnmatch.fnmatchcase(case_id, self.id)


@final
@dataclass(frozen=True)
class Deviations:
    """A set of declared deviations, looked up by case id."""

    entries: tuple[Deviation, ...] = ()

    def find(self, case_id: str, level: Level) -> Deviation | None:
        """The first entry covering ``case_id`` at ``level``, or ``None``."""
        for entry in self.entries:
            if entry.covers(case_id, level):
                return entry
        return None

    def unused(self, case_ids: Iterable[str], level: Level) -> list[Deviation]:
        """Entries that cover none of ``case_ids``: most likely a typo in the file."""
        ids = list(case_ids)
        return [e for e in self.entries if level in e.levels and not any(e.covers(i, level) for i in ids)]

    def __add__(self, other: Deviations) -> Deviations:
        return Deviations(self.entries + other.entries)

    def __len__(self) -> int:
        return len(self.entries)


def _parse_entries(data: Any, source: str) -> tuple[Deviation, ...]:
    def fail(why: str) -> ValueError:
        return ValueError(f"deviations file {source}: {why}")

    if not isinstance(data, Mapping) or "deviations" not in data:
        raise fail('expected an object with a "deviations" list')
    raw = data["deviations"]
    # A plain mapping of id to reason is accepted too: it is what people write by hand.
    if isinstance(raw, Mapping):
        raw = [{"id": k, "reason": v} for k, v in raw.items()]
    if not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)):
        raise fail('"deviations" must be a list of {"id": ..., "reason": ...}')
    out = []
    for n, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise fail(f"entry {n} is a {type(item).__name__}, expected an object")
        unknown = set(item) - {"id", "reason", "levels", "about"}
        if unknown:
            raise fail(f"entry {n} has unknown keys {sorted(unknown)}; allowed: id, reason, levels, about")
        case_id, reason = item.get("id"), item.get("reason")
        if not isinstance(case_id, str) or not case_id:
            raise fail(f'entry {n}: "id" must be a non-empty string, got {case_id!r}')
        if not isinstance(reason, str) or not reason.strip():
            raise fail(f'entry {n} ({case_id}): "reason" must say why, got {reason!r}')
        levels = item.get("levels", list(LEVELS))
        if not isinstance(levels, Sequence) or isinstance(levels, str) or not set(levels) <= set(LEVELS):
            raise fail(f'entry {n} ({case_id}): "levels" must be a list drawn from {list(LEVELS)}, got {levels!r}')
        out.append(Deviation(case_id, reason.strip(), frozenset(levels), source))
    return tuple(out)


def _load_toml(text: str, source: str) -> Any:
    try:
        import tomllib  # type: ignore[import-not-found,unused-ignore]
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]
        except ModuleNotFoundError:
            raise ValueError(
                f"deviations file {source}: reading TOML needs Python 3.11 or the 'tomli' package; "
                "or write the file as JSON"
            ) from None
    return tomllib.loads(text)


def load_deviations(path: str | Path) -> Deviations:
    """Read a deviations file (``.json``, or ``.toml``); raise ``ValueError`` naming the file and the entry."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"deviations file {source}: cannot read it ({exc.strerror or exc})") from None
    if path.suffix == ".toml":
        data = _load_toml(text, source)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"deviations file {source}: not valid JSON ({exc})") from None
    return Deviations(_parse_entries(data, source))
