"""``Trainer(profiler=...)``: the profilers, with Lightning's names, options and reports.

A profiler is resolved once per Trainer (:func:`resolve_profiler`). What a profiled run
records (every hook Lightning calls and its loop-level actions, under Lightning's action
names) is engine/_profiler_actions.py's; with ``profiler=None`` nothing is wrapped, so the
calls of an unprofiled run are exactly those of an engine without profiling.
"""

from __future__ import annotations

import abc
import contextlib
import cProfile
import io
import os
import pstats
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any, Callable, Optional, Union, cast

from loophooks._files import write_text_durably
from loophooks.engine._errors import ConfigurationError

__all__ = [
    "AdvancedProfiler",
    "PassThroughProfiler",
    "Profiler",
    "PyTorchProfiler",
    "SimpleProfiler",
    "resolve_profiler",
]


def _refuse_extra(cls: str, extra: dict[str, Any]) -> None:
    """Lightning constructor arguments this engine does not implement: refused, never ignored."""
    if extra:
        names = ", ".join(sorted(extra))
        raise ConfigurationError(f"{cls}({names}=...) is not supported: the engine's {cls} does not implement it")


class Profiler(abc.ABC):
    """Base class: ``start``/``stop`` an action, ``summary()`` the report; ``describe()`` prints or writes it.

    With ``filename`` the report goes to ``{dirpath}/{stage}-{filename}.txt`` (``dirpath`` defaults to the
    Trainer's ``default_root_dir``), as in Lightning; without it, it is printed.
    """

    def __init__(self, dirpath: Optional[Union[str, os.PathLike[str]]] = None, filename: Optional[str] = None) -> None:
        if not isinstance(cast(object, filename), (str, type(None))):  # callers without a type checker
            cls = type(self).__name__
            raise ConfigurationError(f"{cls}(filename=...) must be a str or None; received {filename!r}")
        self.dirpath = None if dirpath is None else os.fspath(dirpath)
        self.filename = filename
        self._stage: Optional[str] = None
        self._log_dir: Optional[str] = None

    @abc.abstractmethod
    def start(self, action_name: str) -> None:
        """Subclasses implement it."""

    @abc.abstractmethod
    def stop(self, action_name: str) -> None:
        """Subclasses implement it."""

    @abc.abstractmethod
    def summary(self) -> str:
        """Subclasses implement it."""

    @contextlib.contextmanager
    def profile(self, action_name: str) -> Iterator[None]:
        self.start(action_name)
        try:
            yield
        finally:
            self.stop(action_name)

    def setup(self, stage: str, local_rank: Optional[int] = None, log_dir: Optional[str] = None) -> None:
        """Called by the run before any hook: the stage names the report file."""
        self._stage = stage
        self._log_dir = log_dir

    def teardown(self, stage: Optional[str]) -> None:
        """Called by the run after ``describe``."""

    def report_path(self) -> Optional[str]:
        """Where ``describe`` writes, or None when it prints."""
        if self.filename is None:
            return None
        dirpath = self.dirpath or self._log_dir or os.getcwd()
        prefix = f"{self._stage}-" if self._stage else ""
        return os.path.join(dirpath, f"{prefix}{self.filename}.txt")

    def describe(self) -> None:
        """Print the summary, or write it to :meth:`report_path` (a new file replaces the old one whole)."""
        text = self.summary()
        path = self.report_path()
        if path is None:
            print(text)
            return
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        write_text_durably(path, text)


class PassThroughProfiler(Profiler):
    """Records nothing (``profiler=None``); the dispatcher does not even wrap hooks for it."""

    def start(self, action_name: str) -> None:
        pass

    def stop(self, action_name: str) -> None:
        pass

    def summary(self) -> str:
        return ""

    def describe(self) -> None:
        pass


class SimpleProfiler(Profiler):
    """Wall-clock duration of every call of each action; ``recorded_durations`` as in Lightning."""

    def __init__(
        self, dirpath: Optional[Union[str, os.PathLike[str]]] = None, filename: Optional[str] = None, **unsupported: Any
    ) -> None:
        _refuse_extra(type(self).__name__, unsupported)
        super().__init__(dirpath, filename)
        self.current_actions: dict[str, float] = {}
        self.recorded_durations: defaultdict[str, list[float]] = defaultdict(list)
        self.start_time = time.monotonic()

    def setup(self, stage: str, local_rank: Optional[int] = None, log_dir: Optional[str] = None) -> None:
        super().setup(stage, local_rank, log_dir)
        self.start_time = time.monotonic()

    def start(self, action_name: str) -> None:
        if action_name in self.current_actions:
            raise ValueError(f"SimpleProfiler: action {action_name!r} was started twice without a stop")
        self.current_actions[action_name] = time.monotonic()

    def stop(self, action_name: str) -> None:
        began = self.current_actions.pop(action_name, None)
        if began is None:
            raise ValueError(f"SimpleProfiler: action {action_name!r} was stopped without a start")
        self.recorded_durations[action_name].append(time.monotonic() - began)

    def summary(self) -> str:
        total = max(time.monotonic() - self.start_time, 1e-12)
        rows = []
        for action, durations in self.recorded_durations.items():
            spent = sum(durations)
            rows.append((action, spent / len(durations), len(durations), spent, 100.0 * spent / total))
        rows.sort(key=lambda r: r[3], reverse=True)
        header = ("Action", "Mean duration (s)", "Num calls", "Total time (s)", "Percentage %")
        cells = [header, ("Total", "-", str(sum(r[2] for r in rows)), f"{total:.5}", "100 %")]
        cells += [(a, f"{m:.5}", str(n), f"{s:.5}", f"{p:.5}") for a, m, n, s, p in rows]
        widths = [max(len(c[i]) for c in cells) for i in range(5)]
        line = "-" * (sum(widths) + 3 * 5 + 1)
        out = [f"{(self._stage or '').upper()} Profiler Report".strip(), line]
        for i, c in enumerate(cells):
            out.append("| " + " | ".join(v.ljust(w) for v, w in zip(c, widths)) + " |")
            if i in (0, 1):
                out.append(line)
        out.append(line)
        return "\n".join(out)


class AdvancedProfiler(Profiler):
    """A ``cProfile.Profile`` per action; the summary is each action's pstats report (cumulative time)."""

    def __init__(
        self,
        dirpath: Optional[Union[str, os.PathLike[str]]] = None,
        filename: Optional[str] = None,
        line_count_restriction: float = 1.0,
        **unsupported: Any,
    ) -> None:
        _refuse_extra(type(self).__name__, unsupported)
        super().__init__(dirpath, filename)
        if (
            isinstance(line_count_restriction, bool)
            or not isinstance(line_count_restriction, (int, float))
            or not line_count_restriction > 0
        ):
            raise ConfigurationError(
                f"AdvancedProfiler(line_count_restriction=...) must be an int or float > 0; received "
                f"{line_count_restriction!r}"
            )
        self.line_count_restriction = line_count_restriction
        self.profiled_actions: dict[str, cProfile.Profile] = {}

    def start(self, action_name: str) -> None:
        prof = self.profiled_actions.get(action_name)
        if prof is None:
            prof = self.profiled_actions[action_name] = cProfile.Profile()
        prof.enable()

    def stop(self, action_name: str) -> None:
        prof = self.profiled_actions.get(action_name)
        if prof is None:
            raise ValueError(f"AdvancedProfiler: action {action_name!r} was stopped without a start")
        prof.disable()

    def summary(self) -> str:
        parts = []
        for action, prof in self.profiled_actions.items():
            buf = io.StringIO()
            stats = pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("cumulative")
            stats.print_stats(self.line_count_restriction)
            parts.append(f"Profile stats for: {action}\n{buf.getvalue()}")
        return f"{(self._stage or '').upper()} Profiler Report\n" + "\n".join(parts)


class PyTorchProfiler(Profiler):
    """``torch.profiler.profile`` around the run, with a ``record_function`` per hook action; the summary is
    ``key_averages().table()`` sorted by ``sort_by_key`` (CPU total time by default), ``row_limit`` rows."""

    def __init__(
        self,
        dirpath: Optional[Union[str, os.PathLike[str]]] = None,
        filename: Optional[str] = None,
        row_limit: int = 20,
        sort_by_key: Optional[str] = None,
        **unsupported: Any,
    ) -> None:
        _refuse_extra(type(self).__name__, unsupported)
        super().__init__(dirpath, filename)
        if isinstance(row_limit, bool) or not isinstance(row_limit, int):
            raise ConfigurationError(f"PyTorchProfiler(row_limit=...) must be an int; received {row_limit!r}")
        self.row_limit = row_limit
        self.sort_by_key = sort_by_key or "cpu_time_total"
        self._profiler: Any = None
        self._records: dict[str, list[Any]] = defaultdict(list)
        self._averages: Any = None

    def setup(self, stage: str, local_rank: Optional[int] = None, log_dir: Optional[str] = None) -> None:
        import torch.profiler as tp

        super().setup(stage, local_rank, log_dir)
        activities = [tp.ProfilerActivity.CPU]
        import torch

        if torch.cuda.is_available():
            activities.append(tp.ProfilerActivity.CUDA)
        self._profiler = tp.profile(activities=activities)
        self._profiler.__enter__()

    def start(self, action_name: str) -> None:
        import torch.autograd.profiler as ap

        rec: Any = ap.record_function(action_name)  # entered here, exited in stop (the action spans two calls)
        rec.__enter__()
        self._records[action_name].append(rec)

    def stop(self, action_name: str) -> None:
        stack = self._records.get(action_name)
        if not stack:
            raise ValueError(f"PyTorchProfiler: action {action_name!r} was stopped without a start")
        stack.pop().__exit__(None, None, None)

    def _finish(self) -> None:
        if self._profiler is not None:
            self._profiler.__exit__(None, None, None)
            self._averages = self._profiler.key_averages()
            self._profiler = None

    def summary(self) -> str:
        self._finish()
        if self._averages is None:
            return ""
        table = self._averages.table(sort_by=self.sort_by_key, row_limit=self.row_limit)
        return f"{(self._stage or '').upper()} Profiler Report\n{table}"

    def teardown(self, stage: Optional[str]) -> None:
        self._finish()


_BY_NAME: dict[str, Callable[[], Profiler]] = {
    "simple": SimpleProfiler,
    "advanced": AdvancedProfiler,
    "pytorch": PyTorchProfiler,
}


def resolve_profiler(profiler: Any) -> Profiler:
    """``Trainer(profiler=...)``: None, a name Lightning knows, or a :class:`Profiler` instance."""
    if profiler is None:
        return PassThroughProfiler()
    if isinstance(profiler, Profiler):
        return profiler
    if isinstance(profiler, str):
        make = _BY_NAME.get(profiler.lower())
        if make is not None:
            return make()
        if profiler.lower() == "xla":
            raise ConfigurationError("Trainer(profiler='xla') is not supported: the engine does not run on XLA")
    raise ConfigurationError(
        f"Trainer(profiler=...) must be None, 'simple', 'advanced', 'pytorch' or a loophooks.profilers.Profiler; "
        f"received {profiler!r}"
    )
