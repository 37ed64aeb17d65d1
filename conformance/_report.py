"""The outcome of a suite run: one result per case, a table for people, JSON for machines."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal, get_args

from typing_extensions import final

from loophooks.conformance._deviations import Level

__all__ = ["OUTCOMES", "REPORT_SCHEMA", "STATUSES", "CaseResult", "Outcome", "Report", "Status"]

Outcome = Literal["passed", "failed", "deviation", "xpassed", "unsupported"]
"""``deviation``: failed as declared; ``xpassed``: declared a deviation but conforms (a failure:
the declaration is stale); ``unsupported``: the trainer lacks a capability the case needs."""

OUTCOMES: Final[tuple[Outcome, ...]] = get_args(Outcome)
REPORT_SCHEMA: Final = "loophooks.report/1"

Status = Literal["conforms", "does not conform", "nothing ran"]
"""A run's verdict: ``nothing ran`` when every selected case was unsupported (say, ``--device cuda``
on a machine without a GPU): nothing was checked, so it is not a pass."""

STATUSES: Final[tuple[Status, ...]] = get_args(Status)


@final
@dataclass(frozen=True)
class CaseResult:
    """The result of one case of the catalogue."""

    id: str
    outcome: Outcome
    required: bool = False
    message: str = ""
    """Why it failed (the first divergence), the deviation's reason, or what is unsupported."""
    seconds: float = 0.0
    traces: Mapping[str, str] = field(default_factory=dict, compare=False)
    """Where the case's traces were written (``loophooks check --trace-dir``): ``expected`` and
    ``actual`` (``loophooks.trace/1`` JSON), ``expected_text`` and ``actual_text`` (aligned text);
    paths relative to the JSON report's folder. Empty when none were written; no ``actual``
    for a case that did not run."""

    @property
    def ran(self) -> bool:
        """Whether the case was run (anything but unsupported)."""
        return self.outcome != "unsupported"

    @property
    def counts_as_failure(self) -> bool:
        """Failed, stale deviation, or required yet unsupported."""
        return self.outcome in ("failed", "xpassed") or (self.outcome == "unsupported" and self.required)


@final
@dataclass(frozen=True)
class Report:
    """A whole suite run: the configuration, then every case's result."""

    adapter: str
    capabilities: tuple[str, ...]
    device: str
    level: Level
    spec_version: str
    results: tuple[CaseResult, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ran(self) -> int:
        """How many cases were run (not unsupported)."""
        return sum(r.ran for r in self.results)

    @property
    def failures(self) -> tuple[CaseResult, ...]:
        return tuple(r for r in self.results if r.counts_as_failure)

    @property
    def status(self) -> Status:
        """``does not conform`` when a case counts as a failure, else ``nothing ran`` when no case
        was run, else ``conforms``."""
        if self.failures:
            return "does not conform"
        return "conforms" if self.ran else "nothing ran"

    @property
    def ok(self) -> bool:
        """Whether the trainer conforms: some case ran and none counts as a failure."""
        return self.status == "conforms"

    def totals(self) -> dict[Outcome, int]:
        counts = Counter(r.outcome for r in self.results)
        return {outcome: counts.get(outcome, 0) for outcome in OUTCOMES}

    # --- JSON ---

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": REPORT_SCHEMA,
            "adapter": self.adapter,
            "capabilities": list(self.capabilities),
            "device": self.device,
            "level": self.level,
            "spec_version": self.spec_version,
            "ok": self.ok,
            "status": self.status,
            "ran": self.ran,
            "totals": self.totals(),
            "results": [_result_json(r) for r in self.results],
            "extra": dict(self.extra),
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Report:
        if doc.get("schema") != REPORT_SCHEMA:
            raise ValueError(f"report: expected schema {REPORT_SCHEMA!r}, got {doc.get('schema')!r}")
        results = []
        for raw in doc["results"]:
            if raw.get("outcome") not in OUTCOMES:
                raise ValueError(f"report: case {raw.get('id')!r} has unknown outcome {raw.get('outcome')!r}")
            fields = {k: v for k, v in raw.items() if k != "traces"}
            results.append(CaseResult(**fields, traces=dict(raw.get("traces") or {})))
        return cls(
            adapter=doc["adapter"],
            capabilities=tuple(doc["capabilities"]),
            device=doc["device"],
            level=doc["level"],
            spec_version=doc["spec_version"],
            results=tuple(results),
            extra=dict(doc.get("extra", {})),
        )

    @classmethod
    def loads(cls, text: str) -> Report:
        return cls.from_json(json.loads(text))

    # --- for people ---

    def header(self) -> str:
        caps = ", ".join(self.capabilities) or "none"
        return (
            f"loophooks conformance: adapter={self.adapter} device={self.device} level={self.level} "
            f"spec={self.spec_version}\ncapabilities: {caps}"
        )

    def table(self) -> str:
        """One line per case, the totals, then each failure's message."""
        width = max((len(r.id) for r in self.results), default=10)
        lines = [self.header(), ""]
        lines.append(f"  {'case':<{width}}  {'outcome':<11}  note")
        lines.append(f"  {'-' * width}  {'-' * 11}  {'-' * 30}")
        for r in self.results:
            note = ""
            if r.outcome in ("deviation", "unsupported"):
                note = r.message.splitlines()[0] if r.message else ""
            elif r.outcome in ("failed", "xpassed"):
                note = (r.message.splitlines() or [""])[0]
            mark = "*" if r.required else " "
            lines.append(f"{mark} {r.id:<{width}}  {r.outcome:<11}  {note}"[: width + 120].rstrip())
        totals = self.totals()
        lines.append("")
        lines.append(
            ", ".join(f"{n} {outcome}" for outcome, n in totals.items() if n) + f" ({len(self.results)} cases)"
        )
        lines.append("* required: every trainer must run it")
        failures = self.failures
        for r in failures:
            lines.append("")
            lines.append(f"=== {r.id}: {r.outcome}")
            lines.append(r.message or "(no message)")
        lines.append("")
        if self.status == "does not conform":
            lines.append(f"DOES NOT CONFORM: {len(failures)} case(s) failed")
        elif self.status == "nothing ran":
            lines.append(f"NOTHING CHECKED: no case ran ({len(self.results)} selected, all unsupported)")
        else:
            lines.append("CONFORMS")
        return "\n".join(lines)


def _result_json(result: CaseResult) -> dict[str, Any]:
    doc = asdict(result)
    if not result.traces:
        del doc["traces"]  # reports without trace files read as before
    else:
        doc["traces"] = dict(result.traces)
    return doc
