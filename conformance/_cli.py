"""The ``loophooks`` command: ``loophooks check`` runs the suite, ``loophooks spec`` shows the hooks.

``loophooks check`` exits 0 when the trainer conforms, 1 when a case fails (or a
declared deviation conforms, or a required case is unsupported), 2 on a usage
error (an adapter that cannot be loaded, a bad deviations file).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Final, TextIO

__all__ = ["main"]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loophooks", description="The hooks of a PyTorch training loop, checked.")
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check", help="run the conformance suite against a trainer and print a table")
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
        "--show-warnings", action="store_true", help="show the warnings the trainer under test raises (hidden by default)"
    )
    check.add_argument("--level", choices=("strict", "core"), default="strict", help="what to compare (default strict)")
    check.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the report as JSON")
    check.add_argument(
        "--deviations", type=Path, default=None, metavar="PATH", help="declared deviations (JSON, or TOML)"
    )
    check.add_argument("-k", dest="pattern", default=None, metavar="PATTERN", help="only case ids containing/globbing PATTERN")

    spec = commands.add_parser("spec", help="print the hook table of the spec")
    spec.add_argument("--group", default=None, help="only hooks of this group (model, data, checkpoint, step, optimization)")
    commands.add_parser("cases", help="list the cases of the catalogue and what each needs")
    return parser


def _check(args: argparse.Namespace, out: TextIO) -> int:
    from loophooks.conformance._runner import check
    from loophooks.conformance.adapters._registry import AdapterError

    if args.device == "auto":
        import torch

        devices: tuple[str, ...] = ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)
    else:
        devices = ("cpu", "cuda") if args.device == "all" else (args.device,)
    try:
        with warnings.catch_warnings():
            # Scenarios provoke warnings on purpose (empty loaders, say); they would bury the table.
            if not args.show_warnings:
                warnings.simplefilter("ignore")
            report = check(
                args.adapter, devices=devices, level=args.level, deviations=args.deviations, pattern=args.pattern
            )
    except (AdapterError, ValueError) as error:
        print(f"loophooks check: {error}", file=sys.stderr)
        return EXIT_USAGE
    if not report.results:
        print(f"loophooks check: no case matches -k {args.pattern!r}", file=sys.stderr)
        return EXIT_USAGE
    print(report.table(), file=out)
    for entry in report.extra.get("unused_deviations", []):
        print(f"loophooks check: warning: deviation {entry!r} matches no case of the catalogue", file=sys.stderr)
    if args.json is not None:
        args.json.write_text(report.dumps() + "\n", encoding="utf-8")
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
    return _cases(stream)
