"""The ``loophooks`` command: ``loophooks check`` runs the suite, ``loophooks spec`` shows the hooks.

Exit codes (also in ``loophooks --help``): see :data:`EXIT_CODES`. A run in which
no case ran is not a pass, and nothing is run before every output target
(``--json``, ``--trace-dir``, ``--html``) is known to be writable.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Final, TextIO

__all__ = ["EXIT_CODES", "main"]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_NOT_RUN: Final = 3

EXIT_CODES: Final = (
    (EXIT_OK, "the trainer conforms: some case ran, and none failed"),
    (
        EXIT_FAILED,
        "the trainer does not conform: a case failed, a declared deviation conforms (stale), "
        "or a required case is unsupported",
    ),
    (
        EXIT_USAGE,
        "bad usage: an unknown option or value, -k matching no case, an unreadable or malformed --deviations file",
    ),
    (
        EXIT_NOT_RUN,
        "could not run: the adapter does not load, no case ran (every selected case unsupported, "
        "e.g. --device cuda without a GPU), or a --json/--trace-dir/--html target is not writable",
    ),
)
"""Every exit code of ``loophooks``, and what it means."""


def _epilog() -> str:
    return "exit codes:\n" + "\n".join(f"  {code}  {meaning}" for code, meaning in EXIT_CODES)


class _CouldNotRun(Exception):
    """Nothing can be checked: the message says why (exit code 3)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loophooks",
        description="The hooks of a PyTorch training loop, checked.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser(
        "check",
        help="run the conformance suite against a trainer and print a table",
        description="Run the conformance suite against a trainer and print a table.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument(
        "--adapter",
        default=None,
        help="'engine' (default), 'lightning', or 'package.module:factory' (default: $LOOPHOOKS_ADAPTER or engine)",
    )
    check.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda", "all"),
        default="auto",
        help="devices to run cases on: auto (default) is cpu, plus cuda when a GPU is present; all lists cuda"
        " cases as unsupported where there is none",
    )
    check.add_argument(
        "--show-warnings",
        action="store_true",
        help="show the warnings the trainer under test raises (hidden by default)",
    )
    check.add_argument("--level", choices=("strict", "core"), default="strict", help="what to compare (default strict)")
    check.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the report as JSON")
    check.add_argument(
        "--trace-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="write every case's expected and recorded trace into DIR (created if missing; its parent must exist):"
        " <case>.expected.json/.actual.json (schema loophooks.trace/1) and aligned .txt files; the JSON report links them",
    )
    check.add_argument(
        "--html",
        type=Path,
        default=None,
        metavar="PATH",
        help="also write a self-contained HTML report: the compliance matrix, and expected against recorded"
        " traces on a timeline for every failed or deviating case",
    )
    check.add_argument(
        "--deviations", type=Path, default=None, metavar="PATH", help="declared deviations (JSON, or TOML)"
    )
    check.add_argument(
        "-k", dest="pattern", default=None, metavar="PATTERN", help="only case ids containing/globbing PATTERN"
    )

    init = commands.add_parser(
        "init-adapter",
        help="write the skeleton of an adapter package (adapter, deviations file, pytest entry point)",
        description="Write the skeleton of an adapter package for your trainer: see docs/ADAPTERS.md.",
    )
    init.add_argument("name", help="the package to create (a Python identifier, e.g. mytrainer_loophooks)")
    init.add_argument("--dir", type=Path, default=Path("."), help="where to create it (default: here)")

    spec = commands.add_parser("spec", help="print the hook table of the spec")
    spec.add_argument(
        "--group", default=None, help="only hooks of this group (model, data, checkpoint, step, optimization)"
    )
    commands.add_parser("cases", help="list the cases of the catalogue and what each needs")
    return parser


def _writable_file(option: str, path: Path) -> None:
    """Raise :class:`_CouldNotRun` unless ``path`` can be written as a file (checked before any
    case runs, so a long run never ends in a traceback over its output)."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise _CouldNotRun(f"{option} {path}: is a folder, expected a file path")
    if not parent.is_dir():
        raise _CouldNotRun(f"{option} {path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise _CouldNotRun(f"{option} {path}: not writable")


def _writable_dir(option: str, path: Path) -> None:
    """Create ``path`` when its parent exists; raise :class:`_CouldNotRun` unless it is a writable folder."""
    if path.exists() and not path.is_dir():
        raise _CouldNotRun(f"{option} {path}: exists and is not a folder")
    if not path.exists():
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.is_dir():
            raise _CouldNotRun(f"{option} {path}: the folder {parent} does not exist")
        try:
            path.mkdir()
        except OSError as error:
            raise _CouldNotRun(f"{option} {path}: cannot create it ({error.strerror or error})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise _CouldNotRun(f"{option} {path}: not writable")


def _devices(choice: str) -> tuple[str, ...]:
    if choice == "auto":
        import torch

        return ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)
    return ("cpu", "cuda") if choice == "all" else (choice,)


def _load(name: str | None) -> Any:
    """The adapter, with its base classes reached once: a trainer that is not installed is found
    here, not as the same error in every case."""
    from loophooks.conformance.adapters._registry import AdapterError, load_adapter

    try:
        adapter = load_adapter(name)
        for member in ("module_base", "callback_base", "datamodule_base"):
            getattr(adapter, member)
    except AdapterError as error:
        raise _CouldNotRun(str(error)) from None
    except Exception as error:  # the adapter's own import of its trainer failed
        raise _CouldNotRun(f"adapter {name or 'engine'!r}: {type(error).__name__}: {error}") from None
    return adapter


def _check(args: argparse.Namespace, out: TextIO) -> int:
    from loophooks.conformance._catalogue import catalogue, select
    from loophooks.conformance._deviations import load_deviations
    from loophooks.conformance._runner import check
    from loophooks._files import write_text_durably
    from loophooks.conformance._traces import TraceCollector, write_trace_dir

    devices = _devices(args.device)
    if not select(catalogue(devices), args.pattern):
        print(f"loophooks check: no case matches -k {args.pattern!r}", file=sys.stderr)
        return EXIT_USAGE
    deviations = None
    if args.deviations is not None:
        try:
            deviations = load_deviations(args.deviations)
        except ValueError as error:
            print(f"loophooks check: {error}", file=sys.stderr)
            return EXIT_USAGE
    try:
        if args.json is not None:
            _writable_file("--json", args.json)
        if args.html is not None:
            _writable_file("--html", args.html)
        if args.trace_dir is not None:
            _writable_dir("--trace-dir", args.trace_dir)
        adapter = _load(args.adapter)
    except _CouldNotRun as error:
        print(f"loophooks check: could not run: {error}", file=sys.stderr)
        return EXIT_NOT_RUN
    collector = TraceCollector(args.level) if (args.trace_dir is not None or args.html is not None) else None
    with warnings.catch_warnings():
        # Scenarios provoke warnings on purpose (empty loaders, say); they would bury the table.
        if not args.show_warnings:
            warnings.simplefilter("ignore")
        try:
            report = check(
                adapter,
                devices=devices,
                level=args.level,
                deviations=deviations,
                pattern=args.pattern,
                observe=collector,
            )
        except Exception:  # the suite's own failure, not the trainer's: never "did not conform"
            import traceback

            traceback.print_exc()
            print("loophooks check: could not run: the suite itself failed (above); please report it", file=sys.stderr)
            return EXIT_NOT_RUN
    extra = dict(report.extra)
    notes = getattr(adapter, "notes", ())
    if notes:
        extra["adapter_notes"] = list(notes)
    version = getattr(adapter, "version", None)
    if isinstance(version, str):
        extra["adapter_version"] = version
    try:
        if args.trace_dir is not None and collector is not None:
            links = write_trace_dir(
                args.trace_dir,
                collector.traces,
                adapter=report.adapter,
                relative_to=args.json.parent if args.json is not None else None,
            )
            report = replace(report, results=tuple(replace(r, traces=links.get(r.id, {})) for r in report.results))
            extra["trace_dir"] = str(args.trace_dir)
        report = replace(report, extra=extra)
        print(report.table(), file=out)
        for entry in report.extra.get("unused_deviations", []):
            print(f"loophooks check: warning: deviation {entry!r} matches no case of the catalogue", file=sys.stderr)
        if args.json is not None:
            write_text_durably(args.json, report.dumps() + "\n")
        if args.html is not None and collector is not None:
            from loophooks.conformance._html import render_html

            write_text_durably(args.html, render_html(report, collector.traces))
    except OSError as error:
        print(f"loophooks check: could not write the results: {error}", file=sys.stderr)
        return EXIT_NOT_RUN
    if report.status == "nothing ran":
        print(
            f"loophooks check: could not run: no case ran ({len(report.results)} selected, all unsupported)",
            file=sys.stderr,
        )
        return EXIT_NOT_RUN
    return EXIT_OK if report.ok else EXIT_FAILED


def _spec(args: argparse.Namespace, out: TextIO) -> int:
    from loophooks.spec import HOOKS, SPEC_VERSION

    hooks = [h for h in HOOKS.values() if args.group is None or h.group == args.group]
    if not hooks:
        print(f"loophooks spec: no hook in group {args.group!r}", file=sys.stderr)
        return EXIT_USAGE
    width = max(len(h.name) for h in hooks)
    print(f"loophooks spec {SPEC_VERSION}: {len(hooks)} hooks", file=out)
    for h in hooks:
        stages = ",".join(sorted(h.stages))
        params = ", ".join(h.param_names)
        flags = ("C" if h.callback is not None else "-") + ("D" if h.datamodule else "-")
        print(f"{h.name:<{width}}  {h.group:<12} {flags}  {stages:<28} ({params})", file=out)
    print("C: also a Callback hook; D: also a datamodule hook", file=out)
    return EXIT_OK


def _cases(out: TextIO) -> int:
    from loophooks.conformance._catalogue import catalogue

    cases = catalogue()
    width = max(len(c.id) for c in cases)
    for c in cases:
        print(f"{c.id:<{width}}{'*' if c.required else ' '} {', '.join(sorted(c.needs))}", file=out)
    print(f"{len(cases)} cases; * required", file=out)
    return EXIT_OK


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the ``loophooks`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    args = _parser().parse_args(argv)
    stream = out if out is not None else sys.stdout
    if args.command == "check":
        return _check(args, stream)
    if args.command == "spec":
        return _spec(args, stream)
    if args.command == "init-adapter":
        from loophooks.conformance._template import init_adapter_command

        code: int = init_adapter_command(args.name, args.dir, stream)
        return code
    return _cases(stream)
