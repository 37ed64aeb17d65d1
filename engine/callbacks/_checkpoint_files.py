"""The file side of ``ModelCheckpoint``: folder, names, ``-vN`` versions, the durable write and the pruning.

A base class of :class:`~._model_checkpoint.ModelCheckpoint`, so that module keeps to
when a save happens and which files rank best. Pruning runs only after the new files
are written (the decide/write/prune order of engine/callbacks/_model_checkpoint.py).
"""

from __future__ import annotations

import math
import os
import re
from typing import TYPE_CHECKING, Any, Optional, Union

import torch

from loophooks.engine._errors import ConfigurationError

if TYPE_CHECKING:
    from loophooks.engine._trainer import Trainer

__all__ = ["CheckpointFiles"]

_PLACEHOLDER = re.compile(r"(\{.*?)[:\}]")


class CheckpointFiles:
    """Names, writes and removes checkpoint files for the options ``ModelCheckpoint`` holds."""

    CHECKPOINT_JOIN_CHAR = "-"
    CHECKPOINT_EQUALS_CHAR = "="
    CHECKPOINT_NAME_LAST = "last"
    FILE_EXTENSION = ".ckpt"
    STARTING_VERSION = 1

    # set by ModelCheckpoint.__init__
    dirpath: Optional[str]
    filename: Optional[str]
    auto_insert_metric_name: bool
    save_weights_only: bool
    _enable_version_counter: bool
    best_k_models: dict[str, torch.Tensor]
    best_model_path: str
    last_model_path: str
    _last_global_step_saved: int
    _last_checkpoint_saved: str
    _to_prune: list[str]

    def format_checkpoint_name(
        self,
        metrics: dict[str, Any],
        filename: Optional[str] = None,
        ver: Optional[int] = None,
        prefix: Optional[str] = None,
    ) -> str:
        """The path a checkpoint with these ``metrics`` gets (``ver`` adds ``-v<ver>``)."""
        name = self._format_name(filename or self.filename, dict(metrics), prefix)
        if ver is not None:
            name = self.CHECKPOINT_JOIN_CHAR.join((name, f"v{ver}"))
        name += self.FILE_EXTENSION
        return os.path.join(self.dirpath, name) if self.dirpath else name

    def file_exists(self, filepath: Union[str, os.PathLike[str]], trainer: Trainer) -> bool:
        """Whether ``filepath`` exists on global rank 0 (every process gets rank 0's answer)."""
        local = os.path.exists(filepath) if trainer.is_global_zero else False
        return trainer.strategy.reduce_boolean_decision(local, all=False)

    def to_yaml(self, filepath: Optional[Union[str, os.PathLike[str]]] = None) -> None:
        """Write ``best_k_models`` (path: score) as YAML, by default to ``dirpath/best_k_models.yaml``.

        Written without a YAML library (not a dependency): each path is a quoted key,
        each score a YAML float.
        """
        if filepath is None:
            if not self.dirpath:
                raise ConfigurationError("ModelCheckpoint.to_yaml(): no filepath given and no dirpath set yet")
            filepath = os.path.join(self.dirpath, "best_k_models.yaml")
        lines = [
            f"{_yaml_string(path)}: {_yaml_float(float(score))}" for path, score in sorted(self.best_k_models.items())
        ]
        with open(filepath, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n" if lines else "{}\n")

    def _resolve_dirpath(self, trainer: Trainer) -> str:
        if self.dirpath is not None:
            return self.dirpath
        loggers = list(getattr(trainer, "loggers", None) or [])
        if loggers:  # Lightning's rule: the first logger's folder, then its name and version
            first = loggers[0]
            save_dir = getattr(first, "save_dir", None) or trainer.default_root_dir
            version = getattr(first, "version", None)
            version = version if isinstance(version, str) else f"version_{version}"
            return os.path.join(save_dir, str(getattr(first, "name", "")), version, "checkpoints")
        return os.path.join(trainer.default_root_dir, "checkpoints")

    def _format_name(self, filename: Optional[str], metrics: dict[str, Any], prefix: Optional[str]) -> str:
        if not filename:
            filename = "{epoch}" + self.CHECKPOINT_JOIN_CHAR + "{step}"
        # longest names first, so "{val_loss}" is not rewritten through "{val}"
        for group in sorted(_PLACEHOLDER.findall(filename), key=len, reverse=True):
            name = group[1:]
            if self.auto_insert_metric_name:
                filename = filename.replace(group, name + self.CHECKPOINT_EQUALS_CHAR + "{" + name)
            # index the mapping, so names with '/' or '.' format as keys, not attributes
            filename = filename.replace(group, f"{{0[{name}]")
            if name not in metrics:
                metrics[name] = torch.tensor(0)
        filename = filename.format(metrics)
        if prefix is not None:
            filename = self.CHECKPOINT_JOIN_CHAR.join([prefix, filename])
        return filename

    def _versioned(self, trainer: Trainer, candidates: dict[str, Any], prefix: Optional[str], mine: str) -> str:
        """The name for a new file; ``-v1``, ``-v2``... while the name is taken by a file that is not ``mine``."""
        filepath = self.format_checkpoint_name(candidates, prefix)
        if self._enable_version_counter:
            version = self.STARTING_VERSION
            while filepath != mine and self.file_exists(filepath, trainer):
                filepath = self.format_checkpoint_name(candidates, prefix, ver=version)
                version += 1
        return filepath

    def _last_name(self, trainer: Trainer, candidates: dict[str, torch.Tensor]) -> str:
        filepath = self.format_checkpoint_name(candidates, self.CHECKPOINT_NAME_LAST)
        if self._enable_version_counter:
            version = self.STARTING_VERSION
            while self.file_exists(filepath, trainer) and filepath != self.last_model_path:
                filepath = self.format_checkpoint_name(candidates, self.CHECKPOINT_NAME_LAST, ver=version)
                version += 1
        return filepath

    def _save_checkpoint(self, trainer: Trainer, filepath: str) -> None:
        trainer.save_checkpoint(filepath, self.save_weights_only)
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        if trainer.is_global_zero:
            for logger in list(getattr(trainer, "loggers", None) or []):
                after = getattr(logger, "after_save_checkpoint", None)
                if after is not None:
                    after(self)

    def _should_remove(self, trainer: Trainer, previous: str, current: str) -> bool:
        """Never the file just written, the file this fit resumed from, or a file outside ``dirpath``."""
        if previous == current:
            return False
        old = os.path.abspath(previous)
        if trainer.ckpt_path is not None and old == os.path.abspath(trainer.ckpt_path):
            return False
        assert self.dirpath is not None
        return os.path.commonpath([os.path.abspath(self.dirpath), old]) == os.path.abspath(self.dirpath) and (
            old != os.path.abspath(self.dirpath)
        )

    def _remove(self, trainer: Trainer, filepath: str) -> None:
        # Pruned only when the hook's saves are all done: last.ckpt may be a link to this very file
        # (save_last="link"), and the link moves to the new file after the top-k save.
        self._to_prune.append(filepath)

    def _prune(self, trainer: Trainer) -> None:
        doomed, self._to_prune = self._to_prune, []
        if not trainer.is_global_zero:  # only global rank 0 writes (and removes) checkpoint files
            return
        keep = {
            os.path.abspath(p) for p in (self.best_k_models.keys() | {self.best_model_path, self.last_model_path}) if p
        }
        for filepath in doomed:
            if os.path.abspath(filepath) in keep:
                continue
            try:
                os.remove(filepath)
            except FileNotFoundError:
                pass


def _yaml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _yaml_float(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    return repr(value)
