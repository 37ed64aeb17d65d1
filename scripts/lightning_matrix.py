"""Lightning's hook history: the conformance suite run against every minor release of pytorch-lightning 2.

``scripts/lightning-matrix`` (this file) makes one virtual environment per release
(the last patch of each minor), installs that release into it with ``--no-deps``
(torch and the rest come from the system site-packages, so nothing large is
downloaded again), runs ``loophooks check --adapter lightning`` at both levels with
``--json``, and writes:

- ``docs/lightning-compatibility.json``: the date, the versions, every case's outcome
  per version and level, and each difference's first divergence;
- ``docs/LIGHTNING-COMPATIBILITY.md``: generated from that JSON alone (:func:`render`),
  so a test can check that the page and its data agree.

It downloads releases, so it is not part of CI: run it by hand, commit both files.

    scripts/lightning-matrix                      # every release, both levels
    scripts/lightning-matrix --versions 2.5.6 2.6.6
    scripts/lightning-matrix --render-only        # the page again from the JSON
    scripts/lightning-matrix --reuse              # the JSON again from the last run's reports
"""

from __future__ import annotations

import argparse
import datetime
import fnmatch
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
DATA = DOCS / "lightning-compatibility.json"
PAGE = DOCS / "LIGHTNING-COMPATIBILITY.md"
SCHEMA = "loophooks.lightning-matrix/1"

VERSIONS = ("2.0.9.post0", "2.1.4", "2.2.5", "2.3.3", "2.4.0", "2.5.6", "2.6.6")
"""The last patch of each minor release of pytorch-lightning 2 (PyPI, as of 2026-12)."""

LEVELS = ("strict", "core")

# Why a release differs, where Lightning's changelog or tracker says so. Each entry matches
# differences by release range, case glob and a piece of the first divergence; the first
# match explains. "source" is what a reader can look up (Lightning's CHANGELOG.md, shipped
# inside every pytorch_lightning wheel, or the issue number in its tracker).
EXPLANATIONS: tuple[dict[str, Any], ...] = (
    {
        "versions": ("2.0", "2.0"),
        "case": "*",
        "divergence": "on_validation_model_zero_grad",
        "why": "the hook on_validation_model_zero_grad does not exist before 2.1 (2.0 zeroes the gradients "
        "before validation without a hook)",
        "source": "CHANGELOG 2.1.0, Added: the hook `LightningModule.on_validation_model_zero_grad()` (#18710)",
    },
    {
        "versions": ("2.1", "2.1"),
        "case": "*resume*",
        "divergence": "configure_model expected before on_load_checkpoint",
        "why": "2.1 restores the checkpoint before it calls configure_model; 2.2 calls configure_model first "
        "(Trainer._run), so layers made there receive the saved weights",
        "source": "no changelog entry; the order changed in pytorch_lightning/trainer/trainer.py between 2.1.4 "
        "and 2.2.0",
    },
    {
        "versions": ("2.0", "2.4"),
        "case": "*resume*",
        "divergence": "on_train_epoch_start",
        "why": "before 2.5, a fit resumed mid-epoch starts the saved epoch again (on_train_epoch_start fires a "
        "second time) and re-runs the batch the checkpoint was saved after",
        "source": "CHANGELOG 2.5.0, Fixed: restarting from checkpoints leads to consistent internal counters "
        "compared to uninterrupted training (#20379)",
    },
    {
        "versions": ("2.0", "2.4"),
        "case": "*resume*",
        "divergence": "epochs: ",
        "why": "before 2.5, a resumed fit restarts its loop counters inconsistently: a mid-epoch resume "
        "re-runs the batch it was saved after, and a resume after an epoch's last batch trains that epoch "
        "again",
        "source": "CHANGELOG 2.5.0, Fixed: restarting from checkpoints leads to consistent internal counters "
        "compared to uninterrupted training (#20379)",
    },
    {
        "versions": ("2.0", "2.1"),
        "case": "*",
        "divergence": "modes: ",
        "why": "before 2.2, the trainer does not keep each submodule's own train/eval flag: fit puts a "
        "frozen submodule in train mode, and test and predict leave the model in eval mode",
        "source": "CHANGELOG 2.2.0, Changed: the Trainer restores the training mode set through `.train()` or "
        "`.eval()` on a submodule level, and `fit` no longer calls `LightningModule.train()` at the start (#18951)",
    },
    {
        "versions": ("2.0", "2.5"),
        "case": "skip-epoch+lr-epoch*",
        "divergence": "lr_scheduler_step",
        "why": "after on_train_batch_start returns -1, the per-epoch scheduler does not step for that epoch",
        "source": "Lightning issue #21296 (LR is not updated when `on_train_batch_start` returns -1), "
        "reported against 2.5.x; 2.6.6 steps the scheduler, as its own row of this matrix shows",
    },
)


# --- running ------------------------------------------------------------------------------------


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def _venv(work: Path, version: str) -> Path:
    """A virtual environment with pytorch-lightning ``version`` and this loophooks importable."""
    env = work / f"pl-{version}"
    python = env / "bin" / "python"
    if not python.exists():
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", "--system-site-packages", str(env)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--no-deps", f"pytorch-lightning=={version}"], check=True
        )
        # loophooks from the environment running this script (an editable checkout, usually):
        # its site folder is added after the venv's own, so the venv's Lightning wins
        import loophooks

        site_dir = _site_of(Path(loophooks.__file__))
        sites = env / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
        (sites / "zz_loophooks_checkout.pth").write_text(f"import site; site.addsitedir({str(site_dir)!r})\n")
    found = subprocess.run(
        [str(python), "-c", "import pytorch_lightning as pl, loophooks; print(pl.__version__)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    if found != version:
        raise RuntimeError(f"lightning-matrix: {env} imports pytorch_lightning {found}, expected {version}")
    return python


def _site_of(package_file: Path) -> Path:
    """The site folder whose .pth files make ``loophooks`` importable for this interpreter."""
    import site

    for folder in [*site.getsitepackages(), site.getusersitepackages()]:
        if any(Path(folder).glob("*loophooks*")):
            return Path(folder)
    return package_file.parent.parent  # a plain install: the folder holding the package


def _run(python: Path, version: str, level: str, out: Path) -> dict[str, Any]:
    target = out / f"lightning-{version}-{level}.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("LOOPHOOKS_ADAPTER", None)
    result = subprocess.run(
        [str(python), "-m", "loophooks", "check", "--adapter", "lightning", "--device", "cpu", "--level", level,
         "--json", str(target)],
        capture_output=True, text=True, env=env,
    )
    if result.returncode not in (0, 1):
        raise RuntimeError(f"lightning-matrix: {version} {level}: exit {result.returncode}\n{result.stderr[-2000:]}")
    doc: dict[str, Any] = json.loads(target.read_text())
    return doc


def _first(result: Mapping[str, Any]) -> str:
    """The first divergence (or problem) of a result, one line."""
    lines = [line for line in str(result.get("message", "")).splitlines() if line.strip()]
    if result["outcome"] == "deviation" and len(lines) > 1:
        lines = lines[1:]  # the first line is the declared reason
    return lines[0].strip() if lines else ""


def _reason(result: Mapping[str, Any]) -> str:
    """A declared deviation's reason (the first line of its message), else ``""``."""
    if result["outcome"] not in ("deviation", "xpassed"):
        return ""
    return (str(result.get("message", "")).splitlines() or [""])[0].strip()


def collect(versions: Sequence[str], work: Path, jobs: int, *, reuse: bool = False) -> dict[str, Any]:
    """Run every version at both levels (``reuse``: read the reports of an earlier run in ``work``
    instead); the data of the page."""
    out = work / "reports"
    out.mkdir(parents=True, exist_ok=True)
    tasks = [(v, level) for v in versions for level in LEVELS]
    if reuse:
        docs = [json.loads((out / f"lightning-{v}-{level}.json").read_text()) for v, level in tasks]
    else:
        pythons = {v: _venv(work, v) for v in versions}
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            docs = list(pool.map(lambda t: _run(pythons[t[0]], t[0], t[1], out), tasks))
    import torch

    from loophooks.spec import SPEC_VERSION

    runs = []
    for (version, level), doc in zip(tasks, docs):
        runs.append(
            {
                "version": version,
                "level": level,
                "status": doc.get("status", "conforms" if doc["ok"] else "does not conform"),
                "totals": doc["totals"],
                "notes": doc.get("extra", {}).get("adapter_notes", []),
                "results": {
                    r["id"]: {"outcome": r["outcome"], "first": _first(r), **({"declared": _reason(r)} if _reason(r) else {})}
                    for r in doc["results"]
                },
            }
        )
    return {
        "schema": SCHEMA,
        "generated": datetime.date.today().isoformat(),
        "spec_version": SPEC_VERSION,
        "torch": torch.__version__.split("+")[0],
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "device": "cpu",
        "versions": list(versions),
        "runs": runs,
    }


# --- the page -------------------------------------------------------------------------------------

_MARK = {"passed": "✓", "failed": "✗", "deviation": "d", "xpassed": "x", "unsupported": "–"}


def explain(version: str, case: str, first: str) -> tuple[str, str] | None:
    """``(why, source)`` of the first entry of :data:`EXPLANATIONS` that matches, or ``None``."""
    found = _explanation(version, case, first)
    return None if found is None else (str(EXPLANATIONS[found]["why"]), str(EXPLANATIONS[found]["source"]))


def _explanation(version: str, case: str, first: str) -> int | None:
    minor = _minor(version)
    for n, entry in enumerate(EXPLANATIONS):
        low, high = (_minor(v + ".0") for v in entry["versions"])
        if low <= minor <= high and fnmatch.fnmatchcase(case, entry["case"]) and entry["divergence"] in first:
            return n
    return None


def render(data: Mapping[str, Any]) -> str:
    """The Markdown page, from the JSON alone."""
    if data.get("schema") != SCHEMA:
        raise ValueError(f"lightning-matrix: expected schema {SCHEMA!r}, got {data.get('schema')!r}")
    versions: list[str] = list(data["versions"])
    runs = {(r["version"], r["level"]): r for r in data["runs"]}
    cases = list(runs[(versions[0], "strict")]["results"])
    short = {v: ".".join(v.split(".")[:3]) for v in versions}
    lines = [
        "# Lightning's hook history",
        "",
        "<!-- generated by scripts/lightning-matrix from docs/lightning-compatibility.json; do not edit -->",
        "",
        f"Generated {data['generated']}: loophooks spec {data['spec_version']}, torch {data['torch']}, "
        f"Python {data['python']}, device {data['device']}. Each release of pytorch-lightning 2 (the last patch "
        "of each minor release) was run through the conformance suite with `loophooks check --adapter "
        "lightning` at both levels: `strict` compares every call with the spec, `core` only the rules every "
        "trainer must keep. The spec describes Lightning 2.6; its deliberate differences from Lightning "
        "are declared in `conformance/adapters/lightning_deviations.json` and show as `d`.",
        "",
        "## Summary",
        "",
        "| release | strict | core |",
        "| --- | --- | --- |",
    ]

    def summary(run: Mapping[str, Any]) -> str:
        totals = run["totals"]
        parts = [f"{n} {o}" for o, n in totals.items() if n]
        return f"{run['status']}: " + ", ".join(parts)

    for v in versions:
        lines.append(f"| {short[v]} | {summary(runs[(v, 'strict')])} | {summary(runs[(v, 'core')])} |")
    notes = sorted({(v, n) for v in versions for n in runs[(v, "strict")]["notes"]})
    if notes:
        lines += ["", "What the adapter bridges:", ""]
        lines += [f"- {n}" for _, n in notes]
    lines += [
        "",
        "## Cases × releases",
        "",
        "✓ passed, ✗ failed, d declared deviation, x declared but conforms, – unsupported; "
        "two marks are strict / core.",
        "",
        "| case | " + " | ".join(short[v] for v in versions) + " |",
        "| --- | " + " | ".join("---" for _ in versions) + " |",
    ]
    for case in cases:
        cells = []
        for v in versions:
            strict = runs[(v, "strict")]["results"].get(case, {}).get("outcome", "")
            core = runs[(v, "core")]["results"].get(case, {}).get("outcome", "")
            cells.append(f"{_MARK.get(strict, '?')} / {_MARK.get(core, '?')}")
        if len(set(cells)) == 1 and cells[0] == f"{_MARK['passed']} / {_MARK['passed']}":
            continue  # a case every release passes says nothing about history
        lines.append(f"| `{case}` | " + " | ".join(cells) + " |")
    everywhere = [c for c in cases if all(runs[(v, lv)]["results"].get(c, {}).get("outcome") == "passed" for v in versions for lv in LEVELS)]
    lines += ["", f"The other {len(everywhere)} cases pass on every release at both levels.", ""]
    lines += ["## Every difference", ""]
    lines.append(
        "Each case that does not pass, with its first divergence in one line; **E1**, **E2**, ... point to the "
        "explanation below (the Lightning changelog entry or issue, where one exists); a declared deviation "
        "gives its declared reason."
    )
    used: list[int] = []
    for v in versions:
        lines += ["", f"### {short[v]}", ""]
        found = False
        for level in LEVELS:
            for case, result in runs[(v, level)]["results"].items():
                if result["outcome"] in ("passed", "unsupported"):
                    continue
                found = True
                text = f"- `{case}` ({level}, {result['outcome']}): {result['first']}"
                n = None if result.get("declared") else _explanation(v, case, result["first"])
                if n is not None:
                    text += f" — **E{n + 1}**"
                    used.append(n)
                elif result.get("declared"):
                    text += f" — declared: {result['declared']}"
                lines.append(text)
        if not found:
            lines.append("No difference: every case passes at both levels.")
    lines += ["", "## Why", ""]
    for n in sorted(set(used)):
        entry = EXPLANATIONS[n]
        source = f" Source: {entry['source']}." if entry["source"] else ""
        lines.append(f"- **E{n + 1}** ({entry['versions'][0]}–{entry['versions'][1]}): {entry['why']}.{source}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/lightning-matrix", description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", nargs="+", default=list(VERSIONS), help="pytorch-lightning releases")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "loophooks-lightning-matrix",
                        help="where the virtual environments go (kept between runs)")
    parser.add_argument("--jobs", type=int, default=2, help="suite runs at once")
    parser.add_argument("--render-only", action="store_true", help="only write the page again from the JSON")
    parser.add_argument("--reuse", action="store_true", help="collect the reports of an earlier run in --work")
    args = parser.parse_args(argv)
    if args.render_only:
        data = json.loads(DATA.read_text(encoding="utf-8"))
    else:
        args.work.mkdir(parents=True, exist_ok=True)
        data = collect(args.versions, args.work, args.jobs, reuse=args.reuse)
        DATA.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    PAGE.write_text(render(data), encoding="utf-8")
    print(f"wrote {DATA.relative_to(ROOT)} and {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
