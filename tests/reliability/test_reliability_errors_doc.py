"""docs/ERRORS.md lists every error the package raises, and nothing that is gone.

The test reads every ``raise`` statement of ``engine/``, ``spec/`` and
``conformance/`` (with the ``ast`` module, so strings and comments do not count)
and keys each by its file, the function or class around it, and the exception it
raises: the class called (``raise ConfigurationError(...)``), the helper that
builds it (``raise _bad(...)``), or the name raised (``raise SIGTERMException``;
a local variable assigned from a call resolves to that call). Re-raising the
exception an ``except ... as name`` caught is not a new error and is skipped.

The section "Every raise" of docs/ERRORS.md holds one row per key. A ``raise``
without a row fails the test (add the row: what causes it), and so does a row
whose ``raise`` no longer exists (remove it).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("engine", "spec", "conformance")
DOC = ROOT / "docs" / "ERRORS.md"
SECTION = "## Every raise"

Key = tuple[str, str, str]


def _assigned_calls(function: ast.AST) -> dict[str, str]:
    """``name = SomeCall(...)`` inside ``function``: name -> the callee's name."""
    found: dict[str, str] = {}
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            callee = _callee(node.value)
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = callee
    return found


def _callee(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ast.unparse(func)


def raise_sites(path: Path) -> set[Key]:
    """The (file, scope, exception) keys of the raise statements in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    relative = path.relative_to(ROOT).as_posix()
    keys: set[Key] = set()

    def visit(node: ast.AST, scope: list[str], caught: frozenset[str], function: ast.AST | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, [*scope, child.name], frozenset(), child)
                continue
            if isinstance(child, ast.ClassDef):
                visit(child, [*scope, child.name], frozenset(), None)
                continue
            if isinstance(child, ast.ExceptHandler):
                visit(child, scope, caught | ({child.name} if child.name else set()), function)
                continue
            if isinstance(child, ast.Raise) and child.exc is not None:
                name = _raised(child.exc, caught, function)
                if name is not None:
                    keys.add((relative, ".".join(scope) or "<module>", name))
            visit(child, scope, caught, function)

    visit(tree, [], frozenset(), None)
    return keys


def _raised(exc: ast.expr, caught: frozenset[str], function: ast.AST | None) -> str | None:
    if isinstance(exc, ast.Call):
        return _callee(exc)
    if isinstance(exc, ast.Name):
        if exc.id in caught:
            return None  # re-raising what an except clause caught
        if function is not None:
            resolved = _assigned_calls(function).get(exc.id)
            if resolved is not None:
                return resolved
        return exc.id
    return ast.unparse(exc)


def all_sites() -> set[Key]:
    keys: set[Key] = set()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            keys |= raise_sites(path)
    return keys


_ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|\s*`([^`]+)`\s*\|\s*`([^`]+)`\s*\|(.*)\|\s*$")


def documented() -> dict[Key, str]:
    text = DOC.read_text(encoding="utf-8")
    assert SECTION in text, f"docs/ERRORS.md has no section {SECTION!r}"
    section = text.split(SECTION, 1)[1]
    section = section.split("\n## ", 1)[0]
    rows: dict[Key, str] = {}
    for line in section.splitlines():
        match = _ROW.match(line.strip())
        if match:
            key = (match.group(1), match.group(2), match.group(3))
            assert key not in rows, f"docs/ERRORS.md lists {key} twice"
            rows[key] = match.group(4).strip()
    return rows


def test_the_scanner_sees_the_kinds_of_raise_it_must() -> None:
    """The test's own parser: calls, helpers, names, resolved locals, and skipped re-raises."""
    source = (
        "def f(x):\n"
        "    try:\n"
        "        raise ValueError('a')\n"
        "    except ValueError as exc:\n"
        "        raise\n"
        "    except KeyError as other:\n"
        "        raise other\n"
        "    error = _bad('x')\n"
        "    if x:\n"
        "        raise error\n"
        "    raise StopIteration\n"
        "class C:\n"
        "    def m(self):\n"
        "        raise errors.Custom('b') from None\n"
    )
    path = ROOT / "engine" / "__scanner_probe__.py"
    try:
        path.write_text(source, encoding="utf-8")
        keys = raise_sites(path)
    finally:
        path.unlink()
    where = "engine/__scanner_probe__.py"
    assert keys == {(where, "f", "ValueError"), (where, "f", "_bad"), (where, "f", "StopIteration"), (where, "C.m", "Custom")}


def test_every_raise_has_a_row() -> None:
    missing = sorted(all_sites() - set(documented()))
    assert missing == [], (
        "raise statements without a row in docs/ERRORS.md's 'Every raise' table; add a row per line:\n"
        + "\n".join(f"| `{path}` | `{scope}` | `{name}` | (what causes it) |" for path, scope, name in missing)
    )


def test_every_row_has_a_raise() -> None:
    stale = sorted(set(documented()) - all_sites())
    assert stale == [], f"rows of docs/ERRORS.md's 'Every raise' table whose raise is gone: {stale}"


def test_every_row_says_what_causes_it() -> None:
    empty = [key for key, cause in documented().items() if len(cause) < 8 or "what causes it" in cause]
    assert empty == []
