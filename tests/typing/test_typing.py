"""Static typing: the stubs derive from the hook table, match the runtime, and catch users' mistakes.

- ``stubs/`` holds the partial stub package ``loophooks-stubs``. The spec's Protocol
  stubs are generated from the hook table (``scripts/gen_stubs.py``); a test fails
  when the checked-in file differs from what the table produces now.
- Every stub is compared with its runtime module, in the spirit of typeshed's
  stubtest: public names, parameter names, kinds and defaults, properties and
  attributes. ``python scripts/gen_stubs.py --stubtest`` runs mypy's own stubtest
  (slower, same layout) for a deeper look.
- ``tests/typing/good/*.py`` are models as users write them and must type-check
  with ``mypy --strict`` (and pyright strict) without a single error;
  ``tests/typing/bad/*.py`` carry the error each offending line must produce as a
  ``# E: [code] message fragment`` comment. Expected and reported errors must
  agree both ways.

mypy runs once per session (one subprocess over the stubs and every typing file,
cache under tmp), pyright once; the assertions are parametrized from those runs.
The checkers see the package as installed: the source folders laid out under
``loophooks`` by ``scripts/typecheck.build_tree``, next to ``loophooks-stubs``, on
the module search path where an installed wheel would put them.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "typing"
STUB_PACKAGE = ROOT / "stubs" / "loophooks-stubs"
GOOD = sorted(CASES.glob("good/*.py")) + sorted((ROOT / "examples").glob("*.py"))  # the examples are models too
BAD = sorted(CASES.glob("bad/*.py"))
STUBS = sorted(STUB_PACKAGE.rglob("*.pyi"))


def _load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_loophooks_script_{name}", ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and the like look their module up
    spec.loader.exec_module(module)
    return module


def _stub_module(path: Path) -> str:
    return ".".join(("loophooks", *path.relative_to(STUB_PACKAGE).with_suffix("").parts))


def _case_module(path: Path) -> str:
    return f"loophooks_typing_cases.{path.parent.name}_{path.stem}"


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# ---------------------------------------------------------------------------------------------------
# The layout both checkers see
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    tree: Path  # on the search path: loophooks/, loophooks-stubs/, loophooks_typing_cases/
    work: Path  # the checkers' working directory: empty, so nothing shadows the tree
    files: dict[str, Path]  # a path as a checker reports it -> the file in the repository


@pytest.fixture(scope="session")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    base = tmp_path_factory.mktemp("typing")
    tree = _load_script("typecheck").build_tree(base / "tree")
    # The typing files become modules of a typed package, so that mypy checks them by module name
    # alongside the stubs in a single run (a file path and a module would name the stubs twice).
    cases = tree / "loophooks_typing_cases"
    cases.mkdir()
    (cases / "__init__.py").write_text("")
    (cases / "py.typed").write_text("")
    files: dict[str, Path] = {}
    for path in GOOD + BAD:
        link = cases / f"{path.parent.name}_{path.name}"
        link.symlink_to(path)
        files[str(link)] = path
        files[str(path)] = path
    for path in STUBS:
        files[str(tree / "loophooks-stubs" / path.relative_to(STUB_PACKAGE))] = path
        files[str(path)] = path
    work = base / "work"
    work.mkdir()
    return Layout(tree, work, files)


# ---------------------------------------------------------------------------------------------------
# Parsing checker output and expectations
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    path: Path
    line: int
    code: str
    message: str

    def __str__(self) -> str:
        return f"{_rel(self.path)}:{self.line}: {self.message}  [{self.code}]"


_MYPY_LINE = re.compile(r"^(?P<path>.+?):(?P<line>\d+): error: (?P<message>.*?)(?:  \[(?P<code>[a-z0-9-]+)\])?$")
_EXPECTED = re.compile(r"#\s*E:\s*\[(?P<code>[a-z0-9-]+)\]\s*(?P<fragment>[^#]*)")


def _parse_mypy(output: str, files: dict[str, Path]) -> list[Report]:
    reports = []
    for line in output.splitlines():
        match = _MYPY_LINE.match(line)
        if match is None:
            continue
        path = files.get(match["path"]) or files.get(str(Path(match["path"]).resolve()))
        if path is None:  # an error outside the stubs and the typing files: the package's own, see typecheck.py
            continue
        reports.append(Report(path, int(match["line"]), match["code"] or "misc", match["message"]))
    return reports


@dataclass(frozen=True)
class Expected:
    line: int
    code: str
    fragment: str

    def matches(self, report: Report) -> bool:
        return report.line == self.line and report.code == self.code and self.fragment in report.message

    def __str__(self) -> str:
        return f"line {self.line}: [{self.code}] {self.fragment}".rstrip()


def expectations(path: Path) -> list[Expected]:
    """The ``# E: [code] fragment`` comments of a typing file, several per line allowed."""
    found = []
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        if "#" not in text:
            continue
        comment = text[text.index("#") :]
        for match in _EXPECTED.finditer(comment):
            found.append(Expected(number, match["code"], match["fragment"].strip()))
    return found


def compare(expected: list[Expected], reported: list[Report]) -> list[str]:
    """Each difference, both ways: an expected error nobody reported, a reported error nobody expected."""
    problems = [f"expected but not reported: {e}" for e in expected if not any(e.matches(r) for r in reported)]
    problems += [f"reported but not expected: {r}" for r in reported if not any(e.matches(r) for e in expected)]
    return problems


# ---------------------------------------------------------------------------------------------------
# One mypy run over the stubs and every typing file
# ---------------------------------------------------------------------------------------------------


def _checker_env(layout: Layout) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MYPYPATH", "PYTHONPATH")}
    # PYTHONPATH, not MYPYPATH: mypy looks for `<pkg>-stubs` packages only where installed packages live,
    # and a MYPYPATH entry would put loophooks/*.py ahead of the stubs.
    env["PYTHONPATH"] = str(layout.tree)
    return env


@pytest.fixture(scope="session")
def mypy_reports(layout: Layout) -> list[Report]:
    pytest.importorskip("mypy")
    modules = [_stub_module(p) for p in STUBS] + [_case_module(p) for p in GOOD + BAD]
    cmd = [
        sys.executable,
        "-m",
        "mypy",
        "--config-file",
        str(ROOT / "pyproject.toml"),
        "--cache-dir",
        str(layout.work.parent / ".mypy_cache"),
        "--strict",
        "--hide-error-context",
        "--no-error-summary",
        "--show-absolute-path",
    ]
    for module in modules:
        cmd += ["-m", module]
    proc = subprocess.run(cmd, cwd=layout.work, env=_checker_env(layout), capture_output=True, text=True, timeout=900)
    if proc.returncode not in (0, 1) or "error: Cannot find" in proc.stdout:
        pytest.fail(f"mypy did not run: rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return _parse_mypy(proc.stdout, layout.files)


@pytest.mark.parametrize("stub", STUBS, ids=lambda p: p.relative_to(STUB_PACKAGE).as_posix())
def test_stub_is_strict_clean(stub: Path, mypy_reports: list[Report]) -> None:
    errors = [str(r) for r in mypy_reports if r.path == stub]
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("case", GOOD, ids=lambda p: p.name)
def test_good_case_passes_mypy_strict(case: Path, mypy_reports: list[Report]) -> None:
    errors = [str(r) for r in mypy_reports if r.path == case]
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("case", BAD, ids=lambda p: p.name)
def test_bad_case_reports_exactly_the_expected_errors(case: Path, mypy_reports: list[Report]) -> None:
    expected = expectations(case)
    assert expected, f"{_rel(case)} has no `# E:` expectations"
    problems = compare(expected, [r for r in mypy_reports if r.path == case])
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------------------
# One pyright run, strict, over the same files
# ---------------------------------------------------------------------------------------------------


def _pyright() -> str | None:
    found = shutil.which("pyright") or str(Path(sys.executable).parent / "pyright")
    return found if Path(found).exists() else None


@pytest.fixture(scope="session")
def pyright_reports(layout: Layout) -> list[Report]:
    exe = _pyright()
    if exe is None:
        pytest.skip("pyright is not installed")
    config = layout.work / "pyrightconfig.json"
    config.write_text(
        json.dumps({"typeCheckingMode": "strict", "pythonVersion": "3.10", "extraPaths": [str(layout.tree)]})
    )
    cmd = [exe, "--outputjson", "--pythonpath", sys.executable, "-p", str(config), *map(str, GOOD + BAD + STUBS)]
    try:
        proc = subprocess.run(cmd, cwd=layout.work, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:  # pyright's wrapper may need node or a download
        pytest.skip(f"pyright cannot run here: {exc}")
    try:
        result = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.skip(f"pyright cannot run here (rc={proc.returncode}): {(proc.stdout + proc.stderr)[-500:]}")
    reports = []
    for diag in result.get("generalDiagnostics", []):
        if diag.get("severity") != "error":
            continue
        path = layout.files.get(diag["file"])
        if path is not None:
            line = int(diag["range"]["start"]["line"]) + 1
            reports.append(Report(path, line, diag.get("rule", "error"), diag["message"].splitlines()[0]))
    return reports


@pytest.mark.parametrize("path", GOOD + STUBS, ids=lambda p: _rel(p))
def test_passes_pyright_strict(path: Path, pyright_reports: list[Report]) -> None:
    errors = [str(r) for r in pyright_reports if r.path == path]
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("case", BAD, ids=lambda p: p.name)
def test_pyright_flags_the_same_lines(case: Path, pyright_reports: list[Report]) -> None:
    # pyright names its errors differently; what must agree is where they are.
    expected_lines = {e.line for e in expectations(case)}
    reported_lines = {r.line for r in pyright_reports if r.path == case}
    assert sorted(expected_lines - reported_lines) == [], "lines pyright does not flag"
    unexpected = [str(r) for r in pyright_reports if r.path == case and r.line not in expected_lines]
    assert not unexpected, "\n".join(unexpected)


# ---------------------------------------------------------------------------------------------------
# The stubs derive from the table
# ---------------------------------------------------------------------------------------------------


def test_generated_stubs_are_up_to_date() -> None:
    diffs = _load_script("gen_stubs").differences()
    assert not diffs, "run `python scripts/gen_stubs.py`:\n" + "".join(diffs.values())


def test_generator_refuses_a_protocol_member_missing_from_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    from loophooks.spec import _protocols

    gen = _load_script("gen_stubs")

    def on_train_batch_begin(self: object) -> None:
        return None

    monkeypatch.setattr(_protocols.BatchHooks, "on_train_batch_begin", on_train_batch_begin, raising=False)
    with pytest.raises(gen.StubGenerationError, match="on_train_batch_begin"):
        gen.generate()


# ---------------------------------------------------------------------------------------------------
# The stubs match the runtime (a small stubtest)
# ---------------------------------------------------------------------------------------------------

def _static_signatures() -> dict[str, str]:
    """The Protocol members whose stub is the table's static signature rather than the runtime's.

    The runtime Protocols carry the table's full signature (what the loop may pass:
    a default accepts ``dataloader_idx`` when there are several loaders); their stubs
    carry what every implementation must accept (``loophooks.spec._signatures.static_params``).
    ``test_generated_stubs_are_up_to_date`` checks those stubs against the table.
    """
    from loophooks.spec import _protocols
    from loophooks.spec._table import CALLBACK_HOOKS, HOOKS

    allowed = {}
    for name in _protocols.__all__:
        cls = getattr(_protocols, name)
        table = CALLBACK_HOOKS if name == "Callback" else HOOKS
        for member in vars(cls):
            hook = table.get(member)
            if hook is not None and any(p.omittable for p in hook.params):
                allowed[f"loophooks.spec._protocols.{name}.{member}"] = "static signature: " + ", ".join(
                    f"{p.name} passed {p.passed}" for p in hook.params if p.omittable
                )
    return allowed


ALLOWED: dict[str, str] = {
    # "module.Class.member": "why the stub deliberately differs",
    **_static_signatures(),
}
"""Deliberate differences between a stub and its runtime object, with the reason for each."""


def _literal(node: ast.expr) -> object:
    try:
        return ast.literal_eval(node)
    except ValueError:
        return ...


def _stub_params(fn: ast.FunctionDef) -> list[tuple[str, str, object]]:
    """(name, kind, default) for each parameter; default is ``inspect.Parameter.empty`` or ``...`` when unknown."""
    a = fn.args
    positional = [*a.posonlyargs, *a.args]
    defaults: list[object] = [inspect.Parameter.empty] * (len(positional) - len(a.defaults))
    defaults += [_literal(d) for d in a.defaults]
    params = []
    for i, (arg, default) in enumerate(zip(positional, defaults)):
        kind = "POSITIONAL_ONLY" if i < len(a.posonlyargs) else "POSITIONAL_OR_KEYWORD"
        params.append((arg.arg, kind, default))
    if a.vararg:
        params.append((a.vararg.arg, "VAR_POSITIONAL", inspect.Parameter.empty))
    for arg, kw_default in zip(a.kwonlyargs, a.kw_defaults):
        default = inspect.Parameter.empty if kw_default is None else _literal(kw_default)
        params.append((arg.arg, "KEYWORD_ONLY", default))
    if a.kwarg:
        params.append((a.kwarg.arg, "VAR_KEYWORD", inspect.Parameter.empty))
    return params


def _compare_function(where: str, stub: ast.FunctionDef, runtime: Any) -> Iterator[str]:
    if not callable(runtime):
        yield f"{where}: a function in the stub, {type(runtime).__name__} at runtime"
        return
    ours = _stub_params(stub)
    theirs = [(p.name, p.kind.name, p.default) for p in inspect.signature(runtime).parameters.values()]
    stub_shape, runtime_shape = [(n, k) for n, k, _ in ours], [(n, k) for n, k, _ in theirs]
    if stub_shape != runtime_shape:
        only_stub = [f"{n} ({k})" for n, k in stub_shape if (n, k) not in runtime_shape]
        only_runtime = [f"{n} ({k})" for n, k in runtime_shape if (n, k) not in stub_shape]
        detail = f"only in the stub: {only_stub}; only at runtime: {only_runtime}"
        if not only_stub and not only_runtime:
            detail = f"same parameters in another order: stub {[n for n, _ in stub_shape]}"
        yield f"{where}: parameters differ; {detail}"
        return
    for (name, _, stub_default), (_, _, runtime_default) in zip(ours, theirs):
        empty = inspect.Parameter.empty
        if (stub_default is empty) != (runtime_default is empty):
            yield f"{where}: parameter {name!r} has a default in only one of stub ({stub_default!r}) and runtime"
        elif stub_default is not empty and stub_default is not ... and stub_default != runtime_default:
            yield f"{where}: {name!r} defaults to {stub_default!r} in the stub, {runtime_default!r} at runtime"


def _compare_overload(where: str, stub: ast.FunctionDef, runtime: Any) -> Iterator[str]:
    """One ``@overload`` of several: each narrows the runtime's types, so only its parameter names are compared.

    An overload may make a parameter keyword-only to tell call forms apart (``predict(...,
    *, return_predictions: Literal[False])``), so kinds and defaults are not compared.
    """
    runtime_names = set(inspect.signature(runtime).parameters)
    unknown = [n for n, _, _ in _stub_params(stub) if n not in runtime_names]
    if unknown:
        yield f"{where}: an overload names parameters the runtime lacks: {unknown}"


def _decorators(fn: ast.FunctionDef) -> set[str]:
    return {ast.unparse(d) for d in fn.decorator_list}


def _instance_attributes(cls: type) -> set[str]:
    """Names the class's ``__init__`` assigns on ``self``."""
    init = cls.__dict__.get("__init__")
    if init is None or not inspect.isfunction(init):
        return set()
    tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        for t in targets:
            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                names.add(t.attr)
    return names


def _compare_class(where: str, stub: ast.ClassDef, runtime: Any) -> Iterator[str]:
    if not inspect.isclass(runtime):
        yield f"{where}: a class in the stub, {type(runtime).__name__} at runtime"
        return
    stub_bases = [ast.unparse(b).split(".")[-1] for b in stub.bases if not isinstance(b, ast.Subscript)]
    runtime_bases = [b.__name__ for b in runtime.__bases__ if b is not object]
    if stub_bases != runtime_bases:
        yield f"{where}: bases {stub_bases} in the stub, {runtime_bases} at runtime"
    seen: set[str] = set()
    instance = _instance_attributes(runtime)
    for node in stub.body:
        if isinstance(node, ast.FunctionDef):
            name, member = node.name, inspect.getattr_static(runtime, node.name, None)
            seen.add(name)
            decorators = _decorators(node)
            if f"{where}.{name}" in ALLOWED:
                continue
            if member is None and name not in runtime.__dict__:
                yield f"{where}.{name}: in the stub, not at runtime"
            elif "property" in decorators:
                if not isinstance(member, property):
                    yield f"{where}.{name}: a property in the stub, {type(member).__name__} at runtime"
            elif any(d.endswith(".setter") for d in decorators):
                if not isinstance(member, property) or member.fset is None:
                    yield f"{where}.{name}: settable in the stub, read-only at runtime"
            elif "overload" in decorators:
                yield from _compare_overload(f"{where}.{name}", node, getattr(runtime, name))
            else:
                yield from _compare_function(f"{where}.{name}", node, getattr(runtime, name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name = node.target.id
            seen.add(name)
            if f"{where}.{name}" in ALLOWED:
                continue
            if name in runtime.__dict__:
                if node.value is not None and _literal(node.value) not in (..., runtime.__dict__[name]):
                    runtime_value = runtime.__dict__[name]
                    yield f"{where}.{name}: {ast.unparse(node.value)} in the stub, {runtime_value!r} at runtime"
            elif name not in instance:
                yield f"{where}.{name}: an attribute in the stub, neither a class attribute nor set in __init__"
    for name in vars(runtime):
        if not (name.startswith("_") or name in seen or f"{where}.{name}" in ALLOWED):
            yield f"{where}.{name}: at runtime, missing from the stub"
    for name in sorted(instance - seen):
        if not name.startswith("_") and f"{where}.{name}" not in ALLOWED:
            yield f"{where}.{name}: set in __init__ at runtime, missing from the stub"


def stub_differences(stub: Path, modname: str) -> list[str]:
    """Everything in which ``stub`` and the runtime module ``modname`` differ, minus :data:`ALLOWED`."""
    runtime = importlib.import_module(modname)
    tree = ast.parse(stub.read_text())
    problems: list[str] = []
    defined: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            stub_all = _literal(node.value)
            if list(stub_all) != list(getattr(runtime, "__all__", [])):  # type: ignore[call-overload]
                runtime_all = getattr(runtime, "__all__", None)
                problems.append(f"{modname}.__all__: {stub_all} in the stub, {runtime_all} at runtime")
            continue
        name = getattr(node, "name", None) or (
            node.target.id if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) else None
        )
        if name is None or name.startswith("_"):
            continue  # imports, and stub-only private helpers (type aliases, protocols)
        defined.add(name)
        where = f"{modname}.{name}"
        if where in ALLOWED:
            continue
        if not hasattr(runtime, name):
            problems.append(f"{where}: in the stub, not at runtime")
        elif isinstance(node, ast.ClassDef):
            problems.extend(_compare_class(where, node, getattr(runtime, name)))
        elif isinstance(node, ast.FunctionDef):
            problems.extend(_compare_function(where, node, getattr(runtime, name)))
    for name in getattr(runtime, "__all__", []):
        if name not in defined and f"{modname}.{name}" not in ALLOWED:
            problems.append(f"{modname}.{name}: exported at runtime, missing from the stub")
    return problems


@pytest.mark.parametrize("stub", STUBS, ids=lambda p: p.relative_to(STUB_PACKAGE).as_posix())
def test_stub_matches_runtime(stub: Path) -> None:
    problems = stub_differences(stub, _stub_module(stub))
    assert not problems, "\n".join(problems)


def test_stub_comparison_notices_a_difference(tmp_path: Path) -> None:
    """The comparer itself: a renamed parameter, a changed default and a missing method are all reported."""
    source = (STUB_PACKAGE / "engine" / "_trainer.pyi").read_text()
    broken = source.replace("max_steps: int = -1", "max_step: int = -1")
    broken = broken.replace("weights_only: bool = False) -> None", "weights_only: bool = True) -> None")
    broken = re.sub(r"    @property\n    def global_step\(self\) -> int: \.\.\.\n", "", broken)
    assert broken.count("\n") < source.count("\n")
    target = tmp_path / "_trainer.pyi"
    target.write_text(broken)
    problems = "\n".join(stub_differences(target, "loophooks.engine._trainer"))
    assert "Trainer.__init__: parameters differ; only in the stub: ['max_step (KEYWORD_ONLY)']" in problems
    assert "Trainer.save_checkpoint: 'weights_only' defaults to True in the stub, False at runtime" in problems
    assert "Trainer.global_step: at runtime, missing from the stub" in problems


def test_stub_package_is_partial() -> None:
    # PEP 561: "partial\n" tells mypy and pyright to fall back to the runtime package for the modules
    # the stub package leaves out.
    assert (STUB_PACKAGE / "py.typed").read_text() == "partial\n"
