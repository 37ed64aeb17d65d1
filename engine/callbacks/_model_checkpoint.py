"""``ModelCheckpoint``: when to save, under which name, which files to keep.

Options, file names, ``best_k_models`` and the saved state follow Lightning 2.6.
Every save is a small state machine run in one order (the whole of its
reliability):

1. **decide**: the new file's name, and which file (if any) it displaces;
2. **write** the new file durably (``Trainer.save_checkpoint``: temporary file,
   fsync, rename);
3. **prune** the displaced file, only now.

A kill or a full disk at any point leaves the previous good files in place.
``last.ckpt`` is replaced by a rename, never deleted first; ``save_last="link"``
swaps the link in one rename too.
"""

from __future__ import annotations

import math
import os
import re
import time
import warnings
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, Optional, Union

import torch

from loophooks.engine._checkpoint import link_checkpoint_file, remove_stale_temporaries
from loophooks.engine._errors import ConfigurationError
from loophooks.engine.callbacks._base import Checkpoint
from loophooks.engine.callbacks._info import info

if TYPE_CHECKING:
    from loophooks.engine._trainer import Trainer

__all__ = ["ModelCheckpoint"]

_PLACEHOLDER = re.compile(r"(\{.*?)[:\}]")


def _count(owner: str, name: str, value: Any, low: int, *, none_ok: bool = True) -> None:
    if value is None and none_ok:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigurationError(f"{owner}({name}=...) must be {'None or ' if none_ok else ''}an int >= {low}; "
                                 f"received {value!r}")


def _flag(owner: str, name: str, value: Any, *, none_ok: bool = False) -> None:
    if value is None and none_ok:
        return
    if not isinstance(value, bool):
        raise ConfigurationError(f"{owner}({name}=...) must be {'None, ' if none_ok else ''}True or False; "
                                 f"received {value!r}")


class ModelCheckpoint(Checkpoint):
    """Save checkpoints during fit, keeping the best ``save_top_k`` by ``monitor`` (Lightning's options).

    ``filename`` may hold ``{epoch}``, ``{step}`` and any logged metric, with a
    format spec (``"{epoch:02d}-{val_loss:.2f}"``); ``auto_insert_metric_name``
    writes ``name=`` before each. ``save_last`` (``True`` or ``"link"``) keeps
    ``last.ckpt`` current. A save happens every ``every_n_epochs`` (default 1),
    every ``every_n_train_steps`` optimizer steps, or every ``train_time_interval``
    (one of the three). A monitored key that is never logged is an error naming
    the key and the keys that were logged.
    """

    CHECKPOINT_JOIN_CHAR = "-"
    CHECKPOINT_EQUALS_CHAR = "="
    CHECKPOINT_NAME_LAST = "last"
    FILE_EXTENSION = ".ckpt"
    STARTING_VERSION = 1

    def __init__(
        self,
        dirpath: Optional[Union[str, os.PathLike[str]]] = None,
        filename: Optional[str] = None,
        monitor: Optional[str] = None,
        verbose: bool = False,
        save_last: Optional[Union[bool, Literal["link"]]] = None,
        save_top_k: int = 1,
        save_on_exception: bool = False,
        save_weights_only: bool = False,
        mode: Literal["min", "max"] = "min",
        auto_insert_metric_name: bool = True,
        every_n_train_steps: Optional[int] = None,
        train_time_interval: Optional[timedelta] = None,
        every_n_epochs: Optional[int] = None,
        save_on_train_epoch_end: Optional[bool] = None,
        enable_version_counter: bool = True,
    ) -> None:
        owner = "ModelCheckpoint"
        if monitor is not None and not isinstance(monitor, str):
            raise ConfigurationError(f"{owner}(monitor=...) must be None or a metric name; received {monitor!r}")
        if filename is not None and not isinstance(filename, str):
            raise ConfigurationError(f"{owner}(filename=...) must be None or a str; received {filename!r}")
        if mode not in ("min", "max"):
            raise ConfigurationError(f"{owner}(mode=...) must be 'min' or 'max'; received {mode!r}")
        if save_last not in (None, True, False, "link") or isinstance(save_last, (int, float)) and not isinstance(
            save_last, bool
        ):
            raise ConfigurationError(f"{owner}(save_last=...) must be None, True, False or 'link'; received {save_last!r}")
        _count(owner, "save_top_k", save_top_k, -1, none_ok=False)
        _count(owner, "every_n_train_steps", every_n_train_steps, 0)
        _count(owner, "every_n_epochs", every_n_epochs, 0)
        for name, value in (("verbose", verbose), ("save_on_exception", save_on_exception),
                            ("save_weights_only", save_weights_only), ("auto_insert_metric_name", auto_insert_metric_name),
                            ("enable_version_counter", enable_version_counter)):
            _flag(owner, name, value)
        _flag(owner, "save_on_train_epoch_end", save_on_train_epoch_end, none_ok=True)
        if train_time_interval is not None and (
            not isinstance(train_time_interval, timedelta) or train_time_interval.total_seconds() <= 0
        ):
            raise ConfigurationError(
                f"{owner}(train_time_interval=...) must be None or a positive datetime.timedelta; "
                f"received {train_time_interval!r}"
            )
        if every_n_train_steps is None and every_n_epochs is None and train_time_interval is None:
            every_n_epochs, every_n_train_steps = 1, 0
        triggers = (every_n_train_steps or 0) >= 1, (every_n_epochs or 0) >= 1, train_time_interval is not None
        if sum(triggers) > 1:
            raise ConfigurationError(
                f"{owner}: every_n_train_steps={every_n_train_steps}, every_n_epochs={every_n_epochs} and "
                f"train_time_interval={train_time_interval} are mutually exclusive; set one"
            )
        if monitor is None and save_top_k not in (-1, 0, 1):
            raise ConfigurationError(
                f"{owner}(save_top_k={save_top_k}, monitor=None): keeping the best {save_top_k} needs a monitor "
                "to rank them; set monitor=... or save_top_k to -1 (all), 0 (none) or 1 (the latest)"
            )
        self.monitor = monitor
        self.verbose = verbose
        self.save_last = save_last
        self.save_top_k = save_top_k
        self.save_on_exception = save_on_exception
        self.save_weights_only = save_weights_only
        self.auto_insert_metric_name = auto_insert_metric_name
        self._save_on_train_epoch_end = save_on_train_epoch_end
        self._enable_version_counter = enable_version_counter
        self._every_n_train_steps: int = every_n_train_steps or 0
        self._every_n_epochs: int = every_n_epochs or 0
        self._train_time_interval = train_time_interval
        self.mode = mode
        self.kth_value = torch.tensor(math.inf if mode == "min" else -math.inf)
        self.dirpath: Optional[str] = (
            os.path.realpath(os.path.expanduser(os.fspath(dirpath))) if dirpath is not None else None
        )
        self.filename = filename
        self.current_score: Optional[torch.Tensor] = None
        self.best_k_models: dict[str, torch.Tensor] = {}
        self.kth_best_model_path = ""
        self.best_model_score: Optional[torch.Tensor] = None
        self.best_model_path = ""
        self.last_model_path = ""
        self._last_global_step_saved = 0  # nothing to save before the first step
        self._last_checkpoint_saved = ""
        self._last_time_checked: Optional[float] = None
        # a step or time save whose monitored (validation) metric is not there yet waits for validation
        self._defer_save_until_validation = False
        self._validation_ran = False
        self._to_prune: list[str] = []

    # --- public members Lightning has ------------------------------------------------------------------
    @property
    def state_key(self) -> str:
        return self._generate_state_key(
            monitor=self.monitor,
            mode=self.mode,
            every_n_train_steps=self._every_n_train_steps,
            every_n_epochs=self._every_n_epochs,
            train_time_interval=self._train_time_interval,
        )

    @property
    def every_n_epochs(self) -> Optional[int]:
        return self._every_n_epochs

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

    def check_monitor_top_k(self, trainer: Trainer, current: Optional[torch.Tensor] = None) -> bool:
        """Whether a checkpoint scoring ``current`` belongs in the top ``save_top_k``."""
        if current is None:
            return False
        if self.save_top_k == -1 or len(self.best_k_models) < self.save_top_k:
            return True
        better = torch.lt if self.mode == "min" else torch.gt
        decision = bool(better(current, self.best_k_models[self.kth_best_model_path]))
        return trainer.strategy.reduce_boolean_decision(decision)

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
        lines = [f"{_yaml_string(path)}: {_yaml_float(float(score))}" for path, score in sorted(self.best_k_models.items())]
        with open(filepath, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n" if lines else "{}\n")

    # --- hooks -----------------------------------------------------------------------------------------
    def setup(self, trainer: Trainer, pl_module: Any, stage: str) -> None:
        self.dirpath = self._resolve_dirpath(trainer)
        if stage == "fit" and trainer.is_global_zero:
            # files that writers killed mid-save left here (only those whose process is gone)
            remove_stale_temporaries(self.dirpath)
            if self.save_top_k != 0 and os.path.isdir(self.dirpath) and any(
                not name.startswith(".") for name in os.listdir(self.dirpath)
            ):
                warnings.warn(f"Checkpoint directory {self.dirpath} exists and is not empty.", stacklevel=2)

    def on_train_start(self, trainer: Trainer, pl_module: Any) -> None:
        self._last_time_checked = time.monotonic()

    def on_train_batch_end(self, trainer: Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        skip_batch = self._every_n_train_steps < 1 or trainer.global_step % self._every_n_train_steps != 0
        skip_time = True
        now = time.monotonic()
        if self._train_time_interval is not None:
            previous = self._last_time_checked
            skip_time = previous is None or now - previous < self._train_time_interval.total_seconds()
            broadcast = getattr(trainer.strategy, "broadcast", None)
            skip_time = broadcast(skip_time) if broadcast is not None else skip_time
        if skip_batch and skip_time:
            return
        if not skip_time:
            self._last_time_checked = now
        candidates = self._monitor_candidates(trainer)
        if self.monitor is not None and self.monitor not in candidates:
            self._defer_save_until_validation = True  # a validation metric: save when validation has run
            return
        if self.monitor is not None and not self._save_on_epoch_end(trainer) and trainer.is_last_batch:
            if self._validation_follows(trainer):
                self._defer_save_until_validation = True  # the epoch's validation is about to update the metric
                return
        if self._skip(trainer):
            return
        self._save_topk(trainer, candidates)
        self._save_last(trainer, candidates)
        self._prune(trainer)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: Any) -> None:
        if not self._skip(trainer) and self._save_on_epoch_end(trainer):
            self._epoch_save(trainer)
            self._prune(trainer)

    def on_validation_end(self, trainer: Trainer, pl_module: Any) -> None:
        if trainer.sanity_checking:
            return
        self._validation_ran = True
        if not self._skip(trainer) and not self._save_on_epoch_end(trainer):
            if self._defer_save_until_validation:
                candidates = self._monitor_candidates(trainer)
                self._save_topk(trainer, candidates)
                self._save_last(trainer, candidates)
                self._defer_save_until_validation = False
            else:
                self._epoch_save(trainer)
            self._prune(trainer)

    def on_exception(self, trainer: Trainer, pl_module: Any, exception: BaseException) -> None:
        if not (
            self.save_on_exception
            and not getattr(trainer, "fast_dev_run", False)
            and not trainer.sanity_checking
            and self._last_global_step_saved != trainer.global_step
            and self.dirpath is not None
        ):
            return
        candidates = self._monitor_candidates(trainer)
        filepath = self.format_checkpoint_name(candidates)
        self._save_checkpoint(trainer, filepath)
        self._save_last(trainer, candidates)
        self._prune(trainer)
        info(trainer, f"An {type(exception).__name__} was raised with message: {exception}, saved checkpoint to {filepath}")

    def on_train_end(self, trainer: Trainer, pl_module: Any) -> None:
        if self.save_last and not self._last_checkpoint_saved:
            self._save_last(trainer, self._monitor_candidates(trainer))
            self._prune(trainer)

    def state_dict(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "best_model_score": self.best_model_score,
            "best_model_path": self.best_model_path,
            "current_score": self.current_score,
            "dirpath": self.dirpath,
            "best_k_models": dict(self.best_k_models),
            "kth_best_model_path": self.kth_best_model_path,
            "kth_value": self.kth_value,
            "last_model_path": self.last_model_path,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved_dir = state_dict.get("dirpath", self.dirpath)
        if saved_dir == self.dirpath:
            self.best_model_score = state_dict.get("best_model_score")
            self.kth_best_model_path = state_dict.get("kth_best_model_path", self.kth_best_model_path)
            self.kth_value = state_dict.get("kth_value", self.kth_value)
            self.best_k_models = dict(state_dict.get("best_k_models", self.best_k_models))
            self.last_model_path = state_dict.get("last_model_path", self.last_model_path)
        else:
            warnings.warn(
                f"ModelCheckpoint: the checkpoint's dirpath {saved_dir!r} is not this callback's {self.dirpath!r}; "
                "only best_model_path is restored (not best_model_score, kth_best_model_path, kth_value, "
                "last_model_path or best_k_models)",
                stacklevel=2,
            )
        self.best_model_path = state_dict.get("best_model_path", "")

    # --- when ------------------------------------------------------------------------------------------
    def _skip(self, trainer: Trainer) -> bool:
        return (
            bool(getattr(trainer, "fast_dev_run", False))
            or trainer.state.fn != "fit"
            or trainer.sanity_checking
            or self._last_global_step_saved == trainer.global_step
        )

    def _save_on_epoch_end(self, trainer: Trainer) -> bool:
        if self._save_on_train_epoch_end is not None:
            return self._save_on_train_epoch_end
        if getattr(trainer, "_val_check_time_interval", None) is not None:
            return False
        if trainer.check_val_every_n_epoch != 1:
            return False
        if sum(trainer.num_val_batches) == 0:
            return True
        return trainer.val_check_interval == 1.0

    def _validation_follows(self, trainer: Trainer) -> bool:
        """Whether this epoch's validation runs after the current (last) batch."""
        if not trainer._ctx.data.validation_enabled(trainer.limit_val_batches) or not sum(trainer.num_val_batches):
            return False
        every = trainer.check_val_every_n_epoch
        return every is None or (trainer.current_epoch + 1) % every == 0

    def _epoch_save(self, trainer: Trainer) -> None:
        candidates = self._monitor_candidates(trainer)
        if self._every_n_epochs >= 1 and (trainer.current_epoch + 1) % self._every_n_epochs == 0:
            self._save_topk(trainer, candidates)
        if self._last_global_step_saved == trainer.global_step or (
            self.save_last == "link" and self._last_checkpoint_saved
        ):
            self._save_last(trainer, candidates)

    # --- what and where --------------------------------------------------------------------------------
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

    def _monitor_candidates(self, trainer: Trainer) -> dict[str, torch.Tensor]:
        candidates = {k: v.detach().clone() if isinstance(v, torch.Tensor) else v
                      for k, v in trainer.callback_metrics.items()}
        epoch, step = candidates.get("epoch"), candidates.get("step")
        candidates["epoch"] = epoch.int() if isinstance(epoch, torch.Tensor) else torch.tensor(trainer.current_epoch)
        candidates["step"] = step.int() if isinstance(step, torch.Tensor) else torch.tensor(trainer.global_step)
        return candidates

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

    # --- decide, write, prune ----------------------------------------------------------------------------
    def _save_topk(self, trainer: Trainer, candidates: dict[str, torch.Tensor]) -> None:
        if self.save_top_k == 0:
            return
        if self.monitor is None:
            self._save_latest(trainer, candidates)
            return
        if self.monitor not in candidates:
            self._missing_monitor(trainer, candidates)
            return
        current = candidates[self.monitor]
        if self.check_monitor_top_k(trainer, current):
            self._update_best_and_save(current, trainer, candidates)
        elif self.verbose:
            info(trainer, f"Epoch {int(candidates['epoch']):d}, global step {int(candidates['step']):d}: "
                          f"{self.monitor!r} was not in top {self.save_top_k}")

    def _missing_monitor(self, trainer: Trainer, candidates: dict[str, torch.Tensor]) -> None:
        message = (
            f"ModelCheckpoint(monitor={self.monitor!r}) could not find the monitored key in the logged metrics: "
            f"{list(candidates)}. HINT: did you call self.log({self.monitor!r}, value) in the LoopModule?"
        )
        # Lightning raises once validation has run and warns before. Beyond that, a key missing at an
        # epoch's end of a fit without validation is never coming: training on would end with no
        # checkpoint at all, so that is an error too.
        if self._validation_ran or not trainer._ctx.data.validation_enabled(trainer.limit_val_batches):
            raise ConfigurationError(message)
        warnings.warn(message, stacklevel=2)

    def _save_latest(self, trainer: Trainer, candidates: dict[str, torch.Tensor]) -> None:
        """No monitor: the newest file is the best; with ``save_top_k=1`` the one before it goes."""
        filepath = self._versioned(trainer, candidates, None, self.best_model_path)
        previous, self.best_model_path = self.best_model_path, filepath
        self._save_checkpoint(trainer, filepath)
        if self.save_top_k == 1 and previous and self._should_remove(trainer, previous, filepath):
            self._remove(trainer, previous)

    def _update_best_and_save(self, current: torch.Tensor, trainer: Trainer, candidates: dict[str, torch.Tensor]) -> None:
        k = len(self.best_k_models) + 1 if self.save_top_k == -1 else self.save_top_k
        displaced: Optional[str] = None
        if len(self.best_k_models) == k and k > 0:
            displaced = self.kth_best_model_path
            self.best_k_models.pop(displaced)
        current = current.detach().float().cpu().reshape(()) if current.numel() == 1 else current
        if bool(torch.isnan(current).any()):  # NaN ranks last, as Lightning ranks it
            current = torch.tensor(math.inf if self.mode == "min" else -math.inf)
        filepath = self._versioned(trainer, candidates, None, displaced or "")
        self.current_score = current
        self.best_k_models[filepath] = current
        if len(self.best_k_models) == k:
            worst = max if self.mode == "min" else min
            self.kth_best_model_path = worst(self.best_k_models, key=lambda p: float(self.best_k_models[p]))
            self.kth_value = self.best_k_models[self.kth_best_model_path]
        best = min if self.mode == "min" else max
        self.best_model_path = best(self.best_k_models, key=lambda p: float(self.best_k_models[p]))
        self.best_model_score = self.best_k_models[self.best_model_path]
        if self.verbose:
            info(trainer, f"Epoch {int(candidates['epoch']):d}, global step {int(candidates['step']):d}: "
                          f"{self.monitor!r} reached {float(current):0.5f} (best {float(self.best_model_score):0.5f}), "
                          f"saving model to {filepath!r} as top {k}")
        self._save_checkpoint(trainer, filepath)  # durable before anything is pruned
        if displaced and self._should_remove(trainer, displaced, filepath):
            self._remove(trainer, displaced)

    def _save_last(self, trainer: Trainer, candidates: dict[str, torch.Tensor]) -> None:
        if not self.save_last:
            return
        filepath = self._last_name(trainer, candidates)
        previous, self.last_model_path = self.last_model_path, filepath
        if self.save_last == "link" and self._last_checkpoint_saved and self.save_top_k != 0:
            if trainer.is_global_zero and os.path.abspath(self._last_checkpoint_saved) != os.path.abspath(filepath):
                link_checkpoint_file(self._last_checkpoint_saved, filepath)
            trainer.strategy.barrier("ModelCheckpoint.save_last")
        else:
            self._save_checkpoint(trainer, filepath)
        if previous and self._should_remove(trainer, previous, filepath):
            self._remove(trainer, previous)

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
        keep = {os.path.abspath(p) for p in (self.best_k_models.keys() | {self.best_model_path, self.last_model_path})
                if p}
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


def find_last_checkpoint(trainer: Trainer, fn: str) -> Optional[str]:
    """What ``ckpt_path="last"`` names: the newest ``last*.ckpt`` on disk (Lightning's rule).

    Looks in every checkpoint callback's folder (resolved as its ``setup`` would)
    and at every on-exception checkpoint, so a new process finds the files an
    earlier run left. None, with Lightning's warning, when there is none yet: a
    script may say ``"last"`` before its first run.
    """
    from loophooks.engine.callbacks._on_exception_checkpoint import OnExceptionCheckpoint

    candidates: set[str] = set()
    for cb in trainer.callbacks:
        if isinstance(cb, ModelCheckpoint):
            folder = cb._resolve_dirpath(trainer)
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            candidates.update(
                os.path.normpath(os.path.join(folder, n)) for n in names
                if n.endswith(ModelCheckpoint.FILE_EXTENSION) and _LAST.match(n[: -len(ModelCheckpoint.FILE_EXTENSION)])
            )
        elif isinstance(cb, OnExceptionCheckpoint):
            candidates.add(cb.ckpt_path)
    stamped: dict[str, float] = {}
    for path in candidates:
        try:
            stamped[path] = os.path.getmtime(path)
        except OSError:
            continue
    if not stamped:
        warnings.warn(
            f'.{fn}(ckpt_path="last") is set, but there is no last checkpoint available. No checkpoint will be '
            "loaded. HINT: set ModelCheckpoint(..., save_last=True).",
            stacklevel=3,
        )
        return None
    return max(stamped, key=lambda p: stamped[p])


_LAST = re.compile(rf"^{ModelCheckpoint.CHECKPOINT_NAME_LAST}(-(\d+))?")
