"""``loophooks check --html``: the report as one self-contained HTML page.

The page holds everything inline (style, script, data); it loads nothing from
the network, so it can be archived as a CI artifact and opened anywhere. It has:

- the run's configuration and verdict;
- the compliance matrix: one row a case, one column an outcome, required cases
  marked, filterable by outcome, by id and to required cases;
- for every failed or deviating case, the expected and the recorded trace side
  by side, each call in the nested bands of the run it belongs to (entry-point
  run, sanity check, epoch, batch, validation/test/predict run, checkpoint), the
  first divergence highlighted and scrolled into view, and each call's
  arguments, model mode, autograd state and batch device on hover.

The bands are computed here from the hook names (:func:`bands`), so the page
shows structure the flat trace only implies; the script only filters, scrolls
and shows the hover panel.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from typing_extensions import final

from loophooks.conformance._report import OUTCOMES, Report
from loophooks.conformance._traces import CaseTrace
from loophooks.spec import Call

__all__ = ["Band", "bands", "render_html"]

# Paired hooks that open and close a band; the band closes after the last of a run of
# equal calls (the callbacks' call, then the model's), and a band whose end never came
# (on_train_batch_start returned -1; an exception) closes when its parent does.
_OPEN: Final = {
    "on_sanity_check_start": "sanity",
    "on_train_epoch_start": "epoch",
    "on_train_batch_start": "batch",
    "on_validation_start": "validation",
    "on_test_start": "test",
    "on_predict_start": "predict",
    "on_validation_batch_start": "eval-batch",
    "on_test_batch_start": "eval-batch",
    "on_predict_batch_start": "eval-batch",
}
_CLOSE: Final = {
    "on_sanity_check_end": "sanity",
    "on_train_epoch_end": "epoch",
    "on_train_batch_end": "batch",
    "on_validation_end": "validation",
    "on_test_end": "test",
    "on_predict_end": "predict",
    "on_validation_batch_end": "eval-batch",
    "on_test_batch_end": "eval-batch",
    "on_predict_batch_end": "eval-batch",
    "teardown": "run",
}
_CHECKPOINT: Final = frozenset({"on_save_checkpoint", "on_load_checkpoint", "state_dict", "load_state_dict"})
_HOLDS: Final = {
    "root": frozenset({"run"}),
    "run": frozenset({"sanity", "epoch", "validation", "test", "predict"}),
    "sanity": frozenset({"validation"}),
    "epoch": frozenset({"batch", "validation"}),
    "batch": frozenset(),
    "validation": frozenset({"eval-batch"}),
    "test": frozenset({"eval-batch"}),
    "predict": frozenset({"eval-batch"}),
    "eval-batch": frozenset(),
    "checkpoint": frozenset(),
}
"""What each band may hold (a checkpoint band may sit anywhere): a band that cannot hold a new
one was left open (a batch skipped by -1) and ends where the new one starts. Any trace at all
gets bands: a call out of every order nests where it came."""


@final
@dataclass
class Band:
    """A stretch of a trace: its kind, a label, and what it holds (call indices and bands)."""

    kind: str
    label: str
    items: list[int | Band] = field(default_factory=list)


def _label(kind: str, call: Call, counts: dict[str, int]) -> str:
    if kind == "run":
        counts["run"] = counts.get("run", 0) + 1
        return f"run {counts['run']}"
    if kind == "epoch":
        counts["epoch"] = counts.get("epoch", 0) + 1
        return f"train epoch #{counts['epoch']}"
    if kind in ("batch", "eval-batch"):
        text = f"batch {call.args.get('batch_idx', '?')}"
        if "dataloader_idx" in call.args:
            text += f", loader {call.args['dataloader_idx']}"
        return text
    if kind == "checkpoint":
        return "checkpoint load" if "load" in call.hook else "checkpoint save"
    return {"sanity": "sanity check", "validation": "validation run", "test": "test run", "predict": "predict run"}[
        kind
    ]


def bands(calls: Sequence[Call]) -> Band:
    """``calls`` as a tree of nested :class:`Band` s under one root band."""
    root = Band("root", "")
    stack = [root]
    counts: dict[str, int] = {}

    def open_band(kind: str, call: Call) -> None:
        if kind != "checkpoint":
            # the innermost band that may hold it; none (a trace out of all order): nest where we are
            holder = next((j for j in range(len(stack) - 1, -1, -1) if kind in _HOLDS[stack[j].kind]), None)
            if holder is not None:
                del stack[holder + 1 :]
        band = Band(kind, _label(kind, call, counts))
        stack[-1].items.append(band)
        stack.append(band)

    def close_through(kind: str) -> None:
        if any(b.kind == kind for b in stack[1:]):
            while stack[-1].kind != kind:
                stack.pop()
            stack.pop()

    for i, call in enumerate(calls):
        following = calls[i + 1].hook if i + 1 < len(calls) else None
        previous = calls[i - 1].hook if i > 0 else None
        if not any(b.kind == "run" for b in stack):
            open_band("run", call)
        kind = _OPEN.get(call.hook)
        if kind is not None and previous != call.hook:  # the callbacks' call opens, the model's joins it
            close_through(kind)
            open_band(kind, call)
        if call.hook in _CHECKPOINT and stack[-1].kind != "checkpoint":
            open_band("checkpoint", call)
        stack[-1].items.append(i)
        if call.hook in _CHECKPOINT and following not in _CHECKPOINT:
            close_through("checkpoint")
        kind = _CLOSE.get(call.hook)
        if kind is not None and following != call.hook:
            close_through(kind)
    return root


# --- rendering ----------------------------------------------------------------------------------


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _name(call: Call) -> str:
    return call.hook if call.target == "module" else f"{call.target}.{call.hook}"


def _hover(call: Call, i: int) -> str:
    mode = {True: "train", False: "eval", None: "-"}[call.training]
    lines = [f"#{i} {_name(call)}", f"mode: {mode}", f"grad: {call.grad or '-'}", f"device: {call.device or '-'}"]
    lines += [f"{k} = {v!r}" for k, v in call.args.items()] or ["(no arguments)"]
    return "\n".join(lines)


def _short_args(call: Call) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in call.args.items())
    return text if len(text) <= 70 else text[:67] + "..."


def _render_band(band: Band, calls: Sequence[Call], divergence: int | None, anchor: str, out: list[str]) -> None:
    for item in band.items:
        if isinstance(item, Band):
            out.append(f'<div class="band band-{_e(item.kind)}"><div class="band-label">{_e(item.label)}</div>')
            _render_band(item, calls, divergence, anchor, out)
            out.append("</div>")
            continue
        call = calls[item]
        classes = "call" + (" divergence" if item == divergence else "") + f" target-{call.target}"
        ident = f' id="{_e(anchor)}"' if item == divergence else ""
        out.append(
            f'<div class="{classes}"{ident} data-index="{item}" title="{_e(_hover(call, item))}">'
            f'<span class="idx">{item}</span><span class="hook">{_e(_name(call))}</span>'
            f'<span class="args">{_e(_short_args(call))}</span></div>'
        )


def _timeline(calls: Sequence[Call], divergence: int | None, anchor: str, title: str) -> str:
    out = [f'<div class="timeline"><h4>{_e(title)} ({len(calls)} calls)</h4><div class="scroll">']
    _render_band(bands(calls), calls, divergence, anchor, out)
    if divergence is not None and divergence >= len(calls):
        out.append(f'<div class="call divergence end" id="{_e(anchor)}">(ends here: {divergence} calls)</div>')
    out.append("</div></div>")
    return "".join(out)


def _slug(case_id: str) -> str:
    return "".join(ch if ch.isalnum() or ch == "-" else "_" for ch in case_id)


def _case_section(trace: CaseTrace) -> str:
    result = trace.result
    slug = _slug(result.id)
    problems = "\n".join(trace.problems) or result.message
    divergence = trace.divergence
    where = (
        f"first divergence: {trace.divergence_problem}"
        if divergence is not None
        else "the call sequence matches the spec's; the problems are in the arguments or the run's outcome"
    )
    parts = [
        f'<section class="case" id="case-{slug}" data-case="{_e(result.id)}" data-outcome="{_e(result.outcome)}">',
        f'<h3><span class="badge {_e(result.outcome)}">{_e(result.outcome)}</span> {_e(result.id)}'
        f"{' <span class=req>required</span>' if result.required else ''}</h3>",
        f"<p class=summary>{_e(trace.case.summary)}</p>",
        f'<p class="where">{_e(where)}</p>',
        f"<pre class=problems>{_e(problems)}</pre>",
    ]
    if trace.actual is None:
        parts.append("<p>(the case did not run)</p></section>")
        return "".join(parts)
    parts.append('<div class="sides">')
    parts.append(_timeline(trace.expected, divergence, f"div-{slug}-expected", "expected (the spec)"))
    parts.append(_timeline(trace.actual, divergence, f"div-{slug}-actual", f"recorded ({trace.level} level)"))
    parts.append("</div></section>")
    return "".join(parts)


def _matrix(report: Report) -> str:
    head = "".join(f'<th class="o {o}">{o}</th>' for o in OUTCOMES)
    rows = []
    for r in report.results:
        cells = "".join(f'<td class="o {o}">{"&#9679;" if r.outcome == o else ""}</td>' for o in OUTCOMES)
        note = (r.message.splitlines() or [""])[0]
        link = f'<a href="#case-{_slug(r.id)}">{_e(r.id)}</a>' if r.outcome in ("failed", "deviation") else _e(r.id)
        rows.append(
            f'<tr class="row" data-case="{_e(r.id)}" data-outcome="{r.outcome}" data-required="{str(r.required).lower()}">'
            f'<td class="id">{link}</td><td class="req">{"*" if r.required else ""}</td>{cells}'
            f'<td class="note">{_e(note)}</td></tr>'
        )
    return (
        '<table id="matrix"><thead><tr><th>case</th><th title="required: every trainer must run it">req</th>'
        f"{head}<th>note</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _filters(report: Report) -> str:
    totals = report.totals()
    boxes = "".join(
        f'<label class="f {o}"><input type="checkbox" class="outcome-filter" value="{o}" checked> {o} '
        f'<span class="count" data-outcome="{o}">{totals[o]}</span></label>'
        for o in OUTCOMES
    )
    return (
        f'<div id="filters">{boxes}'
        '<label><input type="checkbox" id="required-only"> required only</label>'
        '<input type="search" id="id-filter" placeholder="filter case ids"> '
        '<span id="shown"></span></div>'
    )


_STYLE: Final = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em;margin:0 0 .3em} h2{font-size:1.2em;margin-top:1.5em} h3{font-size:1.05em;margin:.2em 0}
.status{font-weight:bold;padding:.1em .5em;border-radius:4px}
.status.conforms{background:#d9f2d9}.status.does-not-conform{background:#f7d4d4}.status.nothing-ran{background:#f3e7c4}
table#matrix{border-collapse:collapse;font-size:13px}
#matrix th,#matrix td{border-bottom:1px solid #e4e4e4;padding:2px 6px;text-align:left}
#matrix td.o{text-align:center;width:5.5em}
#matrix td.o.passed{color:#2a7d2a}#matrix td.o.failed{color:#c02020}#matrix td.o.deviation{color:#b06d00}
#matrix td.o.xpassed{color:#8a2be2}#matrix td.o.unsupported{color:#777}
#matrix td.note{color:#555;max-width:48em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
#matrix tr.hidden{display:none}
#filters{margin:.6em 0;display:flex;gap:1em;flex-wrap:wrap;align-items:center}
.count{font-weight:bold}
.badge{font-size:.8em;padding:.05em .4em;border-radius:3px;color:#fff;background:#777}
.badge.failed{background:#c02020}.badge.deviation{background:#b06d00}.req{color:#555;font-size:.85em}
section.case{border-top:2px solid #ddd;margin-top:1.2em;padding-top:.5em}
section.case.hidden{display:none}
pre.problems{background:#f7f7f7;padding:.5em;overflow:auto;max-height:14em;font-size:12px}
.sides{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:1em}
.timeline h4{margin:.2em 0;font-size:.95em}
.scroll{max-height:32em;overflow:auto;border:1px solid #ddd;padding:4px;font:12px/1.35 ui-monospace,monospace}
.band{border-left:3px solid #bbb;margin:2px 0 2px 4px;padding-left:6px}
.band-label{font-size:11px;color:#666;font-family:system-ui,sans-serif}
.band-run{border-color:#444}.band-epoch{border-color:#2f6fb0;background:#f3f8fd}.band-batch{border-color:#7fb0e0}
.band-validation,.band-test,.band-predict{border-color:#2a7d2a;background:#f3faf3}.band-eval-batch{border-color:#8fcf8f}
.band-sanity{border-color:#a0a0a0;background:#f6f6f6}.band-checkpoint{border-color:#b06d00;background:#fdf6ea}
.call{white-space:nowrap;padding:0 2px;cursor:default}
.call:hover{background:#ffeeb0}
.call .idx{display:inline-block;width:3.2em;color:#999;text-align:right;margin-right:.6em}
.call .args{color:#666;margin-left:.6em}
.call.target-callback .hook{color:#5b3fa0}.call.target-datamodule .hook{color:#0a6a6a}
.call.divergence{background:#ffd0d0;outline:2px solid #c02020}
#hover{position:fixed;display:none;background:#222;color:#eee;padding:.5em .7em;border-radius:4px;
 font:12px/1.4 ui-monospace,monospace;white-space:pre;z-index:10;pointer-events:none;max-width:60em}
.notes li{color:#555}
"""

_SCRIPT: Final = """
(function(){
  var rows=Array.prototype.slice.call(document.querySelectorAll('#matrix tr.row'));
  var sections=Array.prototype.slice.call(document.querySelectorAll('section.case'));
  var boxes=Array.prototype.slice.call(document.querySelectorAll('.outcome-filter'));
  var req=document.getElementById('required-only'), text=document.getElementById('id-filter');
  var shown=document.getElementById('shown');
  function keep(el){
    var on=boxes.filter(function(b){return b.checked;}).map(function(b){return b.value;});
    if(on.indexOf(el.getAttribute('data-outcome'))<0) return false;
    if(req.checked && el.getAttribute('data-required')==='false') return false;
    var q=text.value.trim();
    return !q || el.getAttribute('data-case').indexOf(q)>=0;
  }
  function apply(){
    var n=0;
    rows.forEach(function(r){var k=keep(r); r.classList.toggle('hidden',!k); if(k) n++;});
    sections.forEach(function(s){
      var row=document.querySelector('#matrix tr.row[data-case="'+s.getAttribute('data-case')+'"]');
      s.classList.toggle('hidden', !!row && row.classList.contains('hidden'));
    });
    shown.textContent=n+' of '+rows.length+' cases shown';
    center();
  }
  function center(){
    document.querySelectorAll('.scroll').forEach(function(box){
      var mark=box.querySelector('.divergence');
      if(!mark) return;
      var top=mark.getBoundingClientRect().top-box.getBoundingClientRect().top+box.scrollTop;
      box.scrollTop=Math.max(0, top-box.clientHeight/2);
    });
  }
  boxes.forEach(function(b){b.addEventListener('change',apply);});
  req.addEventListener('change',apply); text.addEventListener('input',apply);
  var tip=document.getElementById('hover');
  document.addEventListener('mouseover',function(ev){
    var call=ev.target.closest ? ev.target.closest('.call[title], .call[data-hover]') : null;
    if(!call){tip.style.display='none';return;}
    if(call.hasAttribute('title')){call.setAttribute('data-hover',call.getAttribute('title'));call.removeAttribute('title');}
    tip.textContent=call.getAttribute('data-hover'); tip.style.display='block';
  });
  document.addEventListener('mousemove',function(ev){
    tip.style.left=Math.min(ev.clientX+14, window.innerWidth-tip.offsetWidth-8)+'px';
    tip.style.top=Math.min(ev.clientY+14, window.innerHeight-tip.offsetHeight-8)+'px';
  });
  apply();
})();
"""


def render_html(report: Report, traces: Sequence[CaseTrace]) -> str:
    """The whole page for ``report``; ``traces`` supply the timelines of failed and deviating cases."""
    by_id = {t.result.id: t for t in traces}
    version = report.extra.get("adapter_version")
    adapter = report.adapter + (f" {version}" if isinstance(version, str) else "")
    status = report.status
    notes = "".join(f"<li>{_e(n)}</li>" for n in report.extra.get("adapter_notes", []))
    shown = [r for r in report.results if r.outcome in ("failed", "deviation") and r.id in by_id]
    sections = "".join(_case_section(by_id[r.id]) for r in shown) or "<p>No case failed or deviated.</p>"
    # "</" would end the script element early; JSON allows "<\\/" for it
    data = json.dumps({"totals": report.totals(), "status": status, "cases": len(report.results)}).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>loophooks conformance: {_e(adapter)}</title>
<style>{_STYLE}</style></head>
<body>
<h1>loophooks conformance: {_e(adapter)}</h1>
<p>device {_e(report.device)} &middot; level {_e(report.level)} &middot; spec {_e(report.spec_version)} &middot;
<span class="status {status.replace(" ", "-")}" id="status">{_e(status.upper())}</span>
&middot; {report.ran} of {len(report.results)} cases ran</p>
<p class="caps">capabilities: {_e(", ".join(report.capabilities) or "none")}</p>
{f'<ul class="notes">{notes}</ul>' if notes else ""}
<h2>Compliance matrix</h2>
{_filters(report)}
{_matrix(report)}
<p class="req">* required: the case needs only fit, validate, test, predict and the sanity check, so every trainer must run it.</p>
<h2>Failed and deviating cases</h2>
<p class="legend">Expected calls (the spec) beside the recorded ones, in bands: run, sanity check, train epoch,
batch, validation/test/predict run, checkpoint. The first divergence is outlined in red; hover a call for its
arguments, model mode, autograd state and batch device.</p>
{sections}
<div id="hover"></div>
<script type="application/json" id="report-data">{data}</script>
<script>{_SCRIPT}</script>
</body></html>
"""
