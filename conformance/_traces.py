"""Each case's traces kept, written out, and replayed: ``loophooks check --trace-dir``.

:class:`TraceCollector` is an :data:`~loophooks.conformance._runner.Observer`: it
keeps, for every case the suite judges, the expected calls (the spec's
``expected_calls``), the recorded ones, the first divergence and what the
validator measured on the live objects (the probes). :func:`write_trace_dir`
writes them, four files a case::

    <case>.expected.json   <case>.actual.json     schema loophooks.trace/1
    <case>.expected.txt    <case>.actual.txt      one call a line, fixed columns

The text files have no header, so line ``n`` is call ``n - 1`` and ``diff`` or
any side-by-side viewer lines them up. The JSON files carry in ``meta`` what a
replay needs beyond the calls: the case, the level, the probes and the problems
the run's exception raised (an exception is not a call). :func:`replay` reads a
case's files back and judges them again with the validator; it reaches the same
verdict as the run (a test checks it), which is what makes the files evidence.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from typing_extensions import final

from loophooks._files import write_text_durably
from loophooks.conformance._catalogue import Case, catalogue
from loophooks.conformance._deviations import Level
from loophooks.conformance._normalize import dump_trace, load_trace
from loophooks.conformance._report import CaseResult
from loophooks.conformance._validator import (
    LossProbe,
    ModeProbe,
    OutputsProbe,
    Probes,
    StepProbe,
    Verdict,
    first_divergence,
    validate,
)
from loophooks.spec import CALLBACK_HOOKS, HOOKS, Call

__all__ = [
    "CaseTrace",
    "TraceCollector",
    "TraceFiles",
    "render_text",
    "replay",
    "trace_files",
    "write_trace_dir",
]

_HOOK_WIDTH: Final = max(len(name) for name in (*HOOKS, *CALLBACK_HOOKS))
"""Every hook name fits: the columns of two files line up whatever hooks they hold."""
_TARGET_WIDTH: Final = len("datamodule")


@final
@dataclass(frozen=True)
class CaseTrace:
    """One judged case with its traces (``actual`` is ``None`` when it did not run)."""

    case: Case
    result: CaseResult
    level: Level
    expected: tuple[Call, ...]
    actual: tuple[Call, ...] | None = None
    divergence: int | None = None
    """Index of the first call where ``actual`` leaves ``expected`` (at either level), or ``None``."""
    divergence_problem: str = ""
    problems: tuple[str, ...] = ()
    """The verdict's problems (empty when the case conforms)."""
    error_problems: tuple[str, ...] = ()
    """The problems the run's exception raised, first among ``problems``."""
    probes: Probes = field(default_factory=Probes)


def _expected(case: Case) -> list[Call]:
    from loophooks.spec import expected_calls  # type: ignore[attr-defined,unused-ignore]

    return list(expected_calls(case.scenario))


@final
class TraceCollector:
    """Keeps every case's :class:`CaseTrace`, in the order the suite ran them."""

    def __init__(self, level: Level) -> None:
        self.level = level
        self.traces: list[CaseTrace] = []

    def __call__(self, case: Case, run: Any, verdict: Verdict | None, result: CaseResult) -> None:
        expected = tuple(_expected(case))
        if run is None or verdict is None:
            self.traces.append(CaseTrace(case, result, self.level, expected))
            return
        from loophooks.conformance._runner import _error_problems

        actual = tuple(run.trace)
        found = first_divergence(expected, actual)
        self.traces.append(
            CaseTrace(
                case,
                result,
                self.level,
                expected,
                actual,
                None if found is None else found.index,
                "" if found is None else found.problem,
                verdict.problems,
                tuple(_error_problems(run, case.scenario)),
                run.probes,
            )
        )


# --- text ---------------------------------------------------------------------------------------


def _state(value: object, names: Mapping[object, str]) -> str:
    return names.get(value, "-") if value is not None else "-"


def render_text(calls: Sequence[Call]) -> str:
    """One call a line, in fixed columns: receiver, hook, mode, autograd, device, arguments.

    ``-`` marks what a call leaves free (expected calls) or did not have (no batch, no model)."""
    lines = []
    for call in calls:
        mode = _state(call.training, {True: "train", False: "eval"})
        args = " ".join(f"{k}={v!r}" for k, v in call.args.items())
        lines.append(
            f"{call.target:<{_TARGET_WIDTH}}  {call.hook:<{_HOOK_WIDTH}}  {mode:<5}  {call.grad or '-':<9}  "
            f"{call.device or '-':<6}  {args}".rstrip()
        )
    return "\n".join(lines) + ("\n" if lines else "")


# --- JSON ---------------------------------------------------------------------------------------


def _number(value: float | None) -> float | None:
    # JSON has no NaN; a probe's NaN (a loss that was not a scalar tensor) is written null
    return None if value is None or math.isnan(value) else value


def _unnumber(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _structure(value: Any) -> Any:
    """What the prediction check reads of ``predict``'s return: lists, their lengths, ``None``."""
    if value is None:
        return None
    if isinstance(value, list):
        return [_structure(v) for v in value]
    return {"type": type(value).__name__}


class _Opaque:
    """A returned object that was neither a list nor ``None`` (its type name kept for messages)."""

    def __init__(self, name: str) -> None:
        self.name = name


def _unstructure(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return [_unstructure(v) for v in value]
    name = value.get("type", "object") if isinstance(value, dict) else "object"
    # a class of that name, so messages that name the returned type read as they did
    return type(str(name), (_Opaque,), {})(str(name))


def _probes_json(probes: Probes) -> dict[str, Any]:
    return {
        "before_backward": [
            {
                "ndim": p.ndim,
                "requires_grad": p.requires_grad,
                "value": _number(p.value),
                "step_loss": _number(p.step_loss),
            }
            for p in probes.before_backward
        ],
        "train_batch_end": [
            {
                "has_loss": o.has_loss,
                "requires_grad": o.requires_grad,
                "value": _number(o.value),
                "step_loss": _number(o.step_loss),
            }
            for o in probes.train_batch_end
        ],
        "backward": [
            {
                "ndim": p.ndim,
                "requires_grad": p.requires_grad,
                "value": _number(p.value),
                "step_loss": _number(p.step_loss),
            }
            for p in probes.backward
        ],
        "steps": [dataclasses.asdict(p) for p in probes.steps],
        "modes": [{"where": p.where, "wrong": list(p.wrong)} for p in probes.modes],
        "returned_set": probes.returned_set,
        "returned": _structure(probes.returned) if probes.returned_set else None,
    }


def _probes_from_json(doc: Mapping[str, Any]) -> Probes:
    return Probes(
        before_backward=[
            LossProbe(
                p["ndim"], p["requires_grad"], _unnumber(p["value"]), None if p["step_loss"] is None else p["step_loss"]
            )
            for p in doc.get("before_backward", [])
        ],
        train_batch_end=[
            OutputsProbe(
                o["has_loss"],
                o["requires_grad"],
                _unnumber(o["value"]),
                None if o["step_loss"] is None else o["step_loss"],
            )
            for o in doc.get("train_batch_end", [])
        ],
        backward=[
            LossProbe(
                p["ndim"], p["requires_grad"], _unnumber(p["value"]), None if p["step_loss"] is None else p["step_loss"]
            )
            for p in doc.get("backward", [])
        ],
        steps=[StepProbe(**p) for p in doc.get("steps", [])],
        modes=[ModeProbe(str(p["where"]), tuple(str(w) for w in p["wrong"])) for p in doc.get("modes", [])],
        returned=_unstructure(doc.get("returned")),
        returned_set=bool(doc.get("returned_set", False)),
    )


def _sources_json(calls: Sequence[Call]) -> list[list[Any]]:
    """Each batch's real source (``Call.source``), which the trace schema does not carry: ``[index, stage, loader, position]``."""
    return [[i, *c.source] for i, c in enumerate(calls) if c.source is not None]


def _with_sources(calls: list[Call], rows: Any) -> list[Call]:
    for row in rows if isinstance(rows, list) else []:
        i, stage, loader, position = row
        if 0 <= i < len(calls):
            calls[i] = dataclasses.replace(calls[i], source=(str(stage), int(loader), int(position)))
    return calls


@final
@dataclass(frozen=True)
class TraceFiles:
    """The four files of one case (``actual`` ones are absent when it did not run)."""

    expected: Path
    actual: Path
    expected_text: Path
    actual_text: Path


def trace_files(directory: Path, case_id: str) -> TraceFiles:
    """Where :func:`write_trace_dir` puts ``case_id``'s files."""
    return TraceFiles(
        directory / f"{case_id}.expected.json",
        directory / f"{case_id}.actual.json",
        directory / f"{case_id}.expected.txt",
        directory / f"{case_id}.actual.txt",
    )


def write_trace_dir(
    directory: Path, traces: Sequence[CaseTrace], *, adapter: str = "", relative_to: Path | None = None
) -> dict[str, dict[str, str]]:
    """Write every case's files into ``directory`` (which must exist); return, per case id, the
    paths written, relative to ``relative_to`` where given (the JSON report's folder)."""
    links: dict[str, dict[str, str]] = {}
    for trace in traces:
        files = trace_files(directory, trace.case.id)
        meta: dict[str, Any] = {"case": trace.case.id, "role": "expected", "level": trace.level}
        write_text_durably(
            files.expected, dump_trace(trace.expected, scenario=trace.case.scenario.name, meta=meta) + "\n"
        )
        write_text_durably(files.expected_text, render_text(trace.expected))
        written = {"expected": files.expected, "expected_text": files.expected_text}
        if trace.actual is not None:
            meta = {
                "case": trace.case.id,
                "role": "actual",
                "adapter": adapter,
                "level": trace.level,
                "outcome": trace.result.outcome,
                "divergence": trace.divergence,
                "error_problems": list(trace.error_problems),
                "probes": _probes_json(trace.probes),
                "sources": _sources_json(trace.actual),
                "expected": files.expected.name,
            }
            write_text_durably(
                files.actual, dump_trace(trace.actual, scenario=trace.case.scenario.name, meta=meta) + "\n"
            )
            write_text_durably(files.actual_text, render_text(trace.actual))
            written.update(actual=files.actual, actual_text=files.actual_text)
        links[trace.case.id] = {key: _link(path, relative_to) for key, path in written.items()}
    return links


def _link(path: Path, relative_to: Path | None) -> str:
    if relative_to is None:
        return str(path)
    try:
        return os.path.relpath(path.resolve(), relative_to.resolve())
    except ValueError:  # another drive (Windows): no relative path exists
        return str(path.resolve())


# --- replay -------------------------------------------------------------------------------------


def replay(actual: Path, *, level: Level | None = None) -> Verdict:
    """Judge a written case again from its files: the actual trace (and the expected one beside it,
    named in its ``meta``), with the probes and the exception's problems it recorded.

    ``level`` defaults to the level the case ran at. Raises ``ValueError`` naming the file when it
    is not a case's actual trace."""
    text = actual.read_text(encoding="utf-8")
    doc = json.loads(text)
    meta = doc.get("meta") if isinstance(doc, dict) else None
    if not isinstance(meta, dict) or meta.get("role") != "actual" or "case" not in meta:
        raise ValueError(f"replay: {actual} is not the actual trace of a case (no meta.role 'actual')")
    cases = {c.id: c for c in catalogue()}
    case = cases.get(meta["case"])
    if case is None:
        raise ValueError(f"replay: {actual}: case {meta['case']!r} is not in this version's catalogue")
    calls = _with_sources(load_trace(text), meta.get("sources"))
    expected = load_trace((actual.parent / str(meta["expected"])).read_text(encoding="utf-8"))
    at: Level = level or meta.get("level", "strict")
    verdict = validate(
        calls, case.scenario, level=at, probes=_probes_from_json(meta.get("probes", {})), expected=expected
    )
    errors = tuple(str(p) for p in meta.get("error_problems", []))
    if not errors:
        return verdict
    return Verdict(
        at, errors + verdict.problems, verdict.divergence, verdict.expected_len, verdict.actual_len, verdict.contexts
    )
