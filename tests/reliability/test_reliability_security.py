"""Security: checkpoints never run code by default, and nothing evaluates strings.

* A checkpoint whose pickle would run code when loaded (it would create a marker
  file) is refused by the default load, with an error naming the file, and the
  marker is never created: by :func:`load_checkpoint` and by ``fit(ckpt_path=...)``.
* Loading a full pickle needs the explicit ``weights_only=False`` opt-in; a
  control test shows the payload really runs under that opt-in, so the refusals
  above are not vacuous.
* No module of the package calls ``eval``, ``exec`` or ``compile`` on anything,
  every ``torch.load`` states ``weights_only``, nothing calls ``pickle.load(s)``,
  and the adapter resolver turns names into objects with ``importlib`` and
  ``getattr`` only.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Any

import pytest
import torch

import loophooks

PACKAGE_DIRS = ("spec", "engine", "conformance", "loophooks")
REPO = Path(__file__).resolve().parents[2]


class _Payload:
    """Pickles as a call to ``open(marker, "w")``: loading it creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.marker, "w"))


def _evil_checkpoint(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.ckpt"
    model = torch.nn.Linear(2, 2)
    torch.save({"state_dict": model.state_dict(), "epoch": 0, "global_step": 0, "payload": _Payload(marker)}, path)
    assert not marker.exists()
    return path, marker


def test_payload_really_runs_code_when_fully_unpickled(tmp_path: Path) -> None:
    """Control: the payload is live, so the refusals below prove something."""
    path, marker = _evil_checkpoint(tmp_path)
    loaded = torch.load(path, weights_only=False)
    loaded["payload"].close()
    assert marker.exists()


def test_default_load_refuses_code_and_names_the_file(tmp_path: Path) -> None:
    from loophooks.engine._checkpoint import load_checkpoint
    from loophooks.engine._errors import CheckpointError

    path, marker = _evil_checkpoint(tmp_path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert str(path) in message
    assert "weights_only" in message  # the error points at the opt-in
    assert not marker.exists()


def test_explicit_opt_in_loads_a_trusted_full_pickle(tmp_path: Path) -> None:
    from loophooks.engine._checkpoint import load_checkpoint

    path, marker = _evil_checkpoint(tmp_path)
    checkpoint = load_checkpoint(path, weights_only=False)
    checkpoint["payload"].close()
    assert marker.exists()


def _trainer_and_model(root: Path) -> tuple[Any, Any]:
    from torch.utils.data import DataLoader, TensorDataset

    from loophooks.engine import LoopModule, Trainer

    class Tiny(LoopModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(2, 2)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            loss: torch.Tensor = self.layer(batch[0]).sum()
            return loss

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

        def train_dataloader(self) -> Any:
            return DataLoader(TensorDataset(torch.ones(4, 2)), batch_size=2)

    trainer = Trainer(max_epochs=1, default_root_dir=str(root), enable_checkpointing=False, enable_progress_bar=False)
    return trainer, Tiny()


def test_fit_from_a_code_running_checkpoint_fails_before_training(tmp_path: Path) -> None:
    from loophooks.engine._errors import CheckpointError

    path, marker = _evil_checkpoint(tmp_path)
    trainer, model = _trainer_and_model(tmp_path)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError) as info:
        trainer.fit(model, ckpt_path=str(path))
    assert str(path) in str(info.value)
    assert not marker.exists()
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # nothing trained, nothing restored


# --- the source: nothing evaluates strings ------------------------------------------------------------


def _sources() -> list[Path]:
    files: list[Path] = []
    for folder in PACKAGE_DIRS:
        files += sorted((REPO / folder).rglob("*.py"))
    assert files, f"no package sources found under {REPO}"
    return files


def _called_name(node: ast.Call) -> str:
    """``eval`` for ``eval(...)``, ``pickle.loads`` for ``pickle.loads(...)``, ``""`` otherwise."""
    func = node.func
    parts: list[str] = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
        return ".".join(reversed(parts))
    return ""


def _calls(path: Path) -> list[tuple[str, ast.Call]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [(_called_name(n), n) for n in ast.walk(tree) if isinstance(n, ast.Call)]


FORBIDDEN_CALLS = frozenset(
    {
        "eval",
        "exec",
        "compile",
        "builtins.eval",
        "builtins.exec",
        "__import__",
        "pickle.load",
        "pickle.loads",
        "marshal.loads",
        "runpy.run_path",
        "runpy.run_module",
    }
)


def test_package_source_never_evaluates_or_unpickles_strings() -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{node.lineno}: {name}(...)"
        for path in _sources()
        for name, node in _calls(path)
        if name in FORBIDDEN_CALLS
    ]
    assert offenders == []


def test_package_source_never_reaches_eval_or_exec_indirectly() -> None:
    """No bare reference to ``eval``/``exec`` (``f = eval``), no ``getattr(builtins, "eval")``."""
    offenders = []
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id in ("eval", "exec", "compile", "__import__"):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.id}")
            if isinstance(node, ast.Call) and _called_name(node) == "getattr" and len(node.args) >= 2:
                attr = node.args[1]
                if isinstance(attr, ast.Constant) and attr.value in ("eval", "exec", "compile", "__import__"):
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: getattr(..., {attr.value!r})")
    assert offenders == []


def test_every_torch_load_states_weights_only() -> None:
    """``torch.load`` without ``weights_only`` depends on the torch version's default; state it."""
    offenders = [
        f"{path.relative_to(REPO)}:{node.lineno}"
        for path in _sources()
        for name, node in _calls(path)
        if name.endswith("torch.load") and not any(k.arg == "weights_only" for k in node.keywords)
    ]
    assert offenders == []


def test_weights_only_false_appears_only_as_a_passed_through_opt_in() -> None:
    """Nowhere does the package hard-code ``weights_only=False``: it is the caller's explicit choice."""
    offenders = [
        f"{path.relative_to(REPO)}:{node.lineno}"
        for path in _sources()
        for _, node in _calls(path)
        for k in node.keywords
        if k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is False
    ]
    assert offenders == []


def test_adapter_resolver_uses_importlib_and_getattr_only() -> None:
    path = REPO / "conformance" / "adapters" / "_registry.py"
    names = {name for name, _ in _calls(path)}
    assert "importlib.import_module" in names
    assert not names & FORBIDDEN_CALLS
    assert not {"import_string", "locate", "pydoc.locate"} & names


@pytest.mark.parametrize(
    "target",
    [
        "os:system('touch {marker}')",
        "__import__('os').system('touch {marker}')",
        "os:path.join;open('{marker}','w')",
        "builtins:open('{marker}','w')",
    ],
)
def test_adapter_names_are_never_evaluated(tmp_path: Path, target: str) -> None:
    from loophooks.conformance.adapters._registry import AdapterError, load_adapter

    marker = tmp_path / "PWNED"
    with pytest.raises(AdapterError):
        load_adapter(target.format(marker=marker))
    assert not marker.exists()


def test_adapter_env_var_is_resolved_not_evaluated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from loophooks.conformance.adapters._registry import ENV_ADAPTER, AdapterError, load_adapter

    marker = tmp_path / "PWNED"
    monkeypatch.setenv(ENV_ADAPTER, f"os:system('touch {marker}')")
    with pytest.raises(AdapterError):
        load_adapter()
    assert not marker.exists()
    assert os.environ[ENV_ADAPTER]  # the variable was read, not consumed


def test_public_package_imports() -> None:
    assert loophooks.__name__ == "loophooks"


@pytest.mark.parametrize("entry", ["fit", "validate", "test", "predict"])
def test_entry_points_load_weights_only_by_default(entry: str) -> None:
    import inspect

    from loophooks.engine import Trainer, load_checkpoint

    assert inspect.signature(getattr(Trainer, entry)).parameters["weights_only"].default is True
    assert inspect.signature(load_checkpoint).parameters["weights_only"].default is True
