"""``loophooks init-adapter NAME``: the skeleton of a framework's adapter package.

It writes a folder ``NAME/`` that a framework keeps in its own repository::

    NAME/__init__.py          the package
    NAME/adapter.py           the adapter: fill in the places marked FILL IN
    NAME/deviations.json      known differences, each with a reason (empty to start)
    NAME/conftest.py          points loophooks' pytest plugin at the adapter and the file
    NAME/test_conformance.py  the suite's one test, parametrized over the catalogue

so that ``pytest NAME`` runs the whole suite against the framework's trainer.
Until the adapter is filled in, reaching its base classes raises
``NotImplementedError`` naming what to write, so ``loophooks check`` says
"could not run" instead of failing every case. docs/ADAPTERS.md is the guide.
"""

from __future__ import annotations

import keyword
import sys
from pathlib import Path
from typing import Final, TextIO

__all__ = ["TemplateError", "init_adapter", "init_adapter_command"]


class TemplateError(ValueError):
    """The skeleton cannot be written: a bad name, or the folder exists."""


_INIT: Final = '''"""{name}: the loophooks adapter of this framework's trainer (see adapter.py)."""
'''

_ADAPTER: Final = '''"""The adapter that puts this framework's trainer under loophooks' conformance suite.

Fill in the places marked FILL IN; docs/ADAPTERS.md in loophooks says what each
member must do. Run the suite with ``pytest {name}`` or
``loophooks check --adapter {name}.adapter:make_adapter``.
"""

from __future__ import annotations

from typing import Any


class Adapter:
    """Runs loophooks' scenarios on this framework's trainer."""

    name = "{name}"

    # What the trainer supports: a subset of loophooks.conformance.CAPABILITIES. A case that
    # needs a capability not listed is reported "unsupported", never passed; the five below
    # are the core every trainer must have (cases needing only them are required).
    capabilities = frozenset({{"fit", "validate", "test", "predict", "sanity_check"}})

    @property
    def module_base(self) -> type[Any]:
        # FILL IN: the base class of models (what users subclass, like LightningModule).
        # Return the same class object every time: the suite tells it from the model by identity.
        raise NotImplementedError("{name}.adapter: module_base must return the trainer's model base class")

    @property
    def callback_base(self) -> type[Any]:
        # FILL IN: the base class of callbacks.
        raise NotImplementedError("{name}.adapter: callback_base must return the trainer's callback base class")

    @property
    def datamodule_base(self) -> type[Any] | None:
        # FILL IN: the base class of datamodules, or None (then leave "datamodule" out of capabilities).
        return None

    def run(
        self,
        fn: str,
        model: Any,
        *,
        settings: dict[str, Any],
        callbacks: list[Any],
        dataloaders: dict[str, Any] | None = None,
        datamodule: Any | None = None,
        ckpt_path: str | None = None,
        return_predictions: bool | None = None,
    ) -> Any:
        """Build a trainer from ``settings`` (Lightning's option names) and ``callbacks``,
        then run ``fn`` ("fit", "validate", "test" or "predict") on ``model``; return what
        the entry point returns (the predictions of "predict")."""
        # FILL IN: map the settings to your trainer's options and call its entry point.
        raise NotImplementedError("{name}.adapter: run must build the trainer and call its entry point")


def make_adapter() -> Adapter:
    """The factory the suite calls: ``--loophooks-adapter {name}.adapter:make_adapter``."""
    return Adapter()
'''

_DEVIATIONS: Final = """{{
 "about": "Known differences of this trainer from the loophooks spec. Each entry is a case id or glob, a reason, and optionally the levels it applies to (strict, core). A declared case that fails is a deviation; one that passes fails the run, so this file cannot go stale.",
 "deviations": []
}}
"""

_CONFTEST: Final = '''"""Points loophooks' pytest plugin at this package's adapter and deviations file.

The command line (``--loophooks-adapter``, ``--loophooks-deviations``) and the
environment (``LOOPHOOKS_ADAPTER``, ``LOOPHOOKS_DEVIATIONS``) still win.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("loophooks_adapter", None) is None and not os.environ.get("LOOPHOOKS_ADAPTER"):
        config.option.loophooks_adapter = "{name}.adapter:make_adapter"
    if config.getoption("loophooks_deviations", None) is None and not os.environ.get("LOOPHOOKS_DEVIATIONS"):
        config.option.loophooks_deviations = str(_HERE / "deviations.json")
'''

_TEST: Final = '''"""loophooks' conformance suite against this package's adapter: ``pytest {name}``.

One test, parametrized by loophooks' plugin over every case of the catalogue
(options: ``--loophooks-device``, ``--loophooks-level``, ``--loophooks-report``).
"""

from loophooks.conformance.test_conformance import test_case

__all__ = ["test_case"]
'''

_FILES: Final = {
    "__init__.py": _INIT,
    "adapter.py": _ADAPTER,
    "deviations.json": _DEVIATIONS,
    "conftest.py": _CONFTEST,
    "test_conformance.py": _TEST,
}


def init_adapter(name: str, directory: Path) -> list[Path]:
    """Write the skeleton package ``directory / name``; return the files written."""
    if not name.isidentifier() or keyword.iskeyword(name):
        raise TemplateError(f"init-adapter: the name must be a Python package name (an identifier), got {name!r}")
    if not directory.is_dir():
        raise TemplateError(f"init-adapter: --dir {directory}: no such folder")
    target = directory / name
    if target.exists():
        raise TemplateError(f"init-adapter: {target} exists already; choose another name or remove it")
    target.mkdir()
    written = []
    for filename, text in _FILES.items():
        path = target / filename
        path.write_text(text.format(name=name), encoding="utf-8")
        written.append(path)
    return written


def init_adapter_command(name: str, directory: Path, out: TextIO) -> int:
    """``loophooks init-adapter``: 0 when written, 2 when the name or folder is wrong."""
    try:
        written = init_adapter(name, directory)
    except (TemplateError, OSError) as error:
        print(f"loophooks {error}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}", file=out)
    print(
        f"next: fill in {name}/adapter.py (docs/ADAPTERS.md), then run `pytest {name}` "
        f"or `loophooks check --adapter {name}.adapter:make_adapter`",
        file=out,
    )
    return 0
