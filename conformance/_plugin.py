"""The pytest plugin of the conformance suite (entry point ``pytest11: loophooks``).

Run the suite against a trainer with::

    pytest --pyargs loophooks.conformance --loophooks-adapter=mypkg.adapters:make_adapter

Options (each with an environment variable, for CI files that cannot change the
command line):

=============================  ========================  ==========================================
option                         variable                  meaning
=============================  ========================  ==========================================
``--loophooks-adapter``        ``LOOPHOOKS_ADAPTER``     ``engine`` (default), ``lightning``, or
                                                         ``package.module:factory``
``--loophooks-device``         ``LOOPHOOKS_DEVICE``      ``cpu``, ``cuda`` or ``all`` (default; CUDA
                                                         cases are unsupported without a GPU)
``--loophooks-level``          ``LOOPHOOKS_LEVEL``       ``strict`` (default) or ``core``
``--loophooks-deviations``     ``LOOPHOOKS_DEVIATIONS``  a file of declared deviations (xfail);
                                                         built-in adapters bring their own
=============================  ========================  ==========================================

The plugin is loaded in every pytest session where loophooks is installed, so it
imports nothing heavy until a session collects the suite or names an option.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest
from typing_extensions import final

if TYPE_CHECKING:
    from loophooks.conformance._adapter import Adapter
    from loophooks.conformance._catalogue import Case
    from loophooks.conformance._deviations import Deviations, Level

__all__ = ["SuiteConfig", "suite_config"]

_SUITE_ARG: Final = "loophooks.conformance"
_CASE_FIXTURE: Final = "loophooks_case"
_DEVICE_CHOICES: Final = ("cpu", "cuda", "all")


@final
@dataclass(frozen=True)
class SuiteConfig:
    """The suite's configuration for one session, as resolved from options and environment."""

    adapter: Adapter
    adapter_source: str
    devices: tuple[str, ...]
    level: Level
    deviations: Deviations
    deviations_source: str | None

    def header(self) -> list[str]:
        from loophooks.spec import SPEC_VERSION

        caps = ", ".join(sorted(self.adapter.capabilities)) or "none"
        version = getattr(self.adapter, "version", None)
        name = self.adapter.name + (f" {version}" if isinstance(version, str) else "")
        return [
            f"loophooks conformance: spec {SPEC_VERSION}, adapter {name} ({self.adapter_source}), "
            f"device {'+'.join(self.devices)}, level {self.level}",
            f"loophooks capabilities: {caps}",
            f"loophooks deviations: {self.deviations_source or 'none'} ({len(self.deviations)} declared)",
        ]


_CONFIG_KEY = pytest.StashKey["SuiteConfig"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("loophooks", "loophooks conformance suite")
    group.addoption(
        "--loophooks-adapter",
        dest="loophooks_adapter",
        default=None,
        help="trainer under test: 'engine' (default), 'lightning', or 'package.module:factory' [env LOOPHOOKS_ADAPTER]",
    )
    group.addoption(
        "--loophooks-device",
        dest="loophooks_device",
        default=None,
        choices=_DEVICE_CHOICES,
        help="devices to run the cases on (default all; CUDA cases are unsupported without a GPU) [env LOOPHOOKS_DEVICE]",
    )
    group.addoption(
        "--loophooks-level",
        dest="loophooks_level",
        default=None,
        choices=("strict", "core"),
        help="strict: the exact call order of the spec (default); core: the rules every trainer keeps [env LOOPHOOKS_LEVEL]",
    )
    group.addoption(
        "--loophooks-report",
        dest="loophooks_report",
        default=None,
        metavar="PATH",
        help="also write the results as a loophooks JSON report (the format of `loophooks check --json`)",
    )
    group.addoption(
        "--loophooks-deviations",
        dest="loophooks_deviations",
        default=None,
        metavar="PATH",
        help="JSON/TOML file of declared deviations (case id or glob + reason), run as strict xfail "
        "[env LOOPHOOKS_DEVIATIONS]",
    )


def pytest_configure(config: pytest.Config) -> None:
    # registered here too, so the suite runs under --strict-markers outside this repository
    config.addinivalue_line("markers", "cuda: needs a CUDA device (skipped without one)")
    path = config.getoption("loophooks_report")
    if path is not None:
        config.pluginmanager.register(_ReportWriter(config, path), "loophooks-report")


def _option(config: pytest.Config, name: str, env: str) -> str | None:
    value = config.getoption(name)
    return value if value is not None else (os.environ.get(env) or None)


def _requested(config: pytest.Config) -> bool:
    """Whether this session is about the suite: it names an option, or collects the package."""
    if config.getoption("loophooks_adapter") is not None or os.environ.get("LOOPHOOKS_ADAPTER"):
        return True
    here = Path(__file__).resolve().parent
    for arg in config.args:
        path = arg.split("::")[0]
        if path.startswith(_SUITE_ARG):
            return True
        try:
            if Path(path).resolve() in (here, here / "test_conformance.py"):
                return True
        except OSError:
            continue
    return False


def suite_config(config: pytest.Config) -> SuiteConfig:
    """The session's :class:`SuiteConfig`, resolved once; a bad option is a usage error."""
    found = config.stash.get(_CONFIG_KEY, None)
    if found is not None:
        return found
    from loophooks.conformance._deviations import Deviations, load_deviations
    from loophooks.conformance.adapters._registry import AdapterError, builtin_deviations, load_adapter

    source = _option(config, "loophooks_adapter", "LOOPHOOKS_ADAPTER") or "engine"
    try:
        adapter = load_adapter(source)
    except AdapterError as error:
        raise pytest.UsageError(f"--loophooks-adapter: {error}") from None
    device = _option(config, "loophooks_device", "LOOPHOOKS_DEVICE") or "all"
    if device not in _DEVICE_CHOICES:
        raise pytest.UsageError(f"LOOPHOOKS_DEVICE: expected one of {', '.join(_DEVICE_CHOICES)}, got {device!r}")
    level = _option(config, "loophooks_level", "LOOPHOOKS_LEVEL") or "strict"
    if level not in ("strict", "core"):
        raise pytest.UsageError(f"LOOPHOOKS_LEVEL: expected strict or core, got {level!r}")
    path: Path | str | None = _option(config, "loophooks_deviations", "LOOPHOOKS_DEVIATIONS")
    if path is None:
        path = builtin_deviations(adapter)
    try:
        deviations = load_deviations(path) if path is not None else Deviations()
    except ValueError as error:
        raise pytest.UsageError(f"--loophooks-deviations: {error}") from None
    suite = SuiteConfig(
        adapter=adapter,
        adapter_source=source,
        devices=("cpu", "cuda") if device == "all" else (device,),
        level=level,  # type: ignore[arg-type]
        deviations=deviations,
        deviations_source=str(path) if path is not None else None,
    )
    config.stash[_CONFIG_KEY] = suite
    return suite


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    if not _requested(config):
        return None
    return suite_config(config).header()


def _param(case: Case, suite: SuiteConfig) -> Any:
    from loophooks.conformance._runner import unsupported_reason

    marks: list[pytest.MarkDecorator] = []
    reason = unsupported_reason(case, suite.adapter)
    if reason is not None and not case.required:
        marks.append(pytest.mark.skip(reason=reason))
    declared = suite.deviations.find(case.id, suite.level)
    if declared is not None:
        # strict: a declared case that conforms fails, so the file cannot go stale
        marks.append(pytest.mark.xfail(strict=True, reason=f"deviation: {declared.reason}"))
    if case.scenario.device == "cuda":
        marks.append(pytest.mark.cuda)
    return pytest.param(case, id=case.id, marks=marks)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if _CASE_FIXTURE not in metafunc.fixturenames:
        return
    from loophooks.conformance._catalogue import catalogue

    suite = suite_config(metafunc.config)
    metafunc.parametrize(_CASE_FIXTURE, [_param(c, suite) for c in catalogue(suite.devices)])


@pytest.fixture(scope="session")
def loophooks_suite(request: pytest.FixtureRequest) -> SuiteConfig:
    """The session's suite configuration: adapter, devices, level, deviations."""
    return suite_config(request.config)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    suite = config.stash.get(_CONFIG_KEY, None)
    if suite is None:
        return
    from loophooks.conformance._catalogue import catalogue

    # a declared id that matches nothing is most likely a typo: say so rather than pass silently
    unused = suite.deviations.unused([c.id for c in catalogue()], suite.level)
    for entry in unused:
        terminalreporter.write_line(
            f"loophooks: deviation {entry.id!r} ({entry.source}) matches no case of the catalogue", yellow=True
        )


# --- the JSON report -----------------------------------------------------------------------------


def _outcome(report: pytest.TestReport) -> tuple[str, str] | None:
    """One phase's pytest outcome as the suite's ``(outcome, message)``; ``None`` while undecided."""
    declared = getattr(report, "wasxfail", None)
    if report.skipped:
        if declared is not None:
            return "deviation", f"{declared.removeprefix('deviation: ')}\n{report.longreprtext}"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        return "unsupported", reason.removeprefix("Skipped: ")
    if report.failed:
        text = report.longreprtext
        return ("xpassed" if text.startswith("[XPASS(strict)]") else "failed"), text
    return ("passed", "") if report.when == "call" else None


@final
class _ReportWriter:
    """Collects each case's outcome and writes a :class:`Report`; registered only with
    ``--loophooks-report``, so other sessions pay nothing."""

    def __init__(self, config: pytest.Config, path: str) -> None:
        self.config = config
        self.path = Path(path)
        self.cases: dict[str, Case] = {}
        self.results: dict[str, Any] = {}

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            callspec = getattr(item, "callspec", None)
            if callspec is not None and _CASE_FIXTURE in callspec.params:
                self.cases[item.nodeid] = callspec.params[_CASE_FIXTURE]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        case = self.cases.get(report.nodeid)
        if case is None:
            return
        earlier = self.results.get(report.nodeid)
        if earlier is not None and earlier.outcome != "passed":
            return  # the first bad phase decides; a failing teardown after a pass still fails
        decided = _outcome(report)
        if decided is not None:
            from loophooks.conformance._report import CaseResult

            outcome, message = decided
            self.results[report.nodeid] = CaseResult(case.id, outcome, case.required, message, report.duration)  # type: ignore[arg-type]

    def pytest_sessionfinish(self) -> None:
        suite = self.config.stash.get(_CONFIG_KEY, None)
        if suite is None:
            return
        from loophooks.conformance._report import Report
        from loophooks.spec import SPEC_VERSION

        report = Report(
            adapter=suite.adapter.name,
            capabilities=tuple(sorted(suite.adapter.capabilities)),
            device=", ".join(suite.devices),
            level=suite.level,
            spec_version=SPEC_VERSION,
            results=tuple(self.results.values()),
            extra={"source": "pytest"},
        )
        self.path.write_text(report.dumps() + "\n", encoding="utf-8")
