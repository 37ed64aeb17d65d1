"""TensorBoardLogger: metrics as TensorBoard scalars; needs ``pip install loophooks[tensorboard]``."""

from __future__ import annotations

import os
import warnings
from argparse import Namespace
from collections.abc import Mapping
from typing import Any, Optional, Union

from loophooks.engine._logger_base import _params, _VersionedLogger, save_hparams_to_yaml

__all__ = ["TensorBoardLogger", "tensorboard_available"]


def tensorboard_available() -> bool:
    """Whether the ``tensorboard`` package is importable (what ``logger=True`` picks TensorBoard by)."""
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


class TensorBoardLogger(_VersionedLogger):
    """Metrics as TensorBoard scalars in ``save_dir/name/version_N/``; hyperparameters also in ``hparams.yaml``.

    Needs the ``tensorboard`` package: ``pip install loophooks[tensorboard]``.
    ``default_hp_metric`` logs ``hp_metric=-1`` with the hyperparameters, as Lightning does.
    """

    NAME_HPARAMS_FILE = "hparams.yaml"

    def __init__(
        self,
        save_dir: Union[str, os.PathLike[str]],
        name: Optional[str] = "lightning_logs",
        version: Optional[Union[int, str]] = None,
        log_graph: bool = False,
        default_hp_metric: bool = True,
        prefix: str = "",
        sub_dir: Optional[Union[str, os.PathLike[str]]] = None,
        **kwargs: Any,
    ) -> None:
        if not tensorboard_available():
            raise ModuleNotFoundError(
                "TensorBoardLogger needs the 'tensorboard' package: pip install 'loophooks[tensorboard]' "
                "(or use CSVLogger, which needs nothing)"
            )
        super().__init__(save_dir, name, version)
        self._log_graph = log_graph
        self._default_hp_metric = default_hp_metric
        self._prefix = prefix
        self._sub_dir = None if sub_dir is None else os.fspath(sub_dir)
        self._kwargs = kwargs
        self.hparams: dict[str, Any] = {}
        self._experiment: Any = None

    @property
    def log_dir(self) -> str:
        base = super().log_dir
        return os.path.join(base, self._sub_dir) if self._sub_dir else base

    @property
    def experiment(self) -> Any:
        if self._experiment is None:
            from torch.utils.tensorboard import SummaryWriter

            os.makedirs(self.root_dir, exist_ok=True)
            self._experiment = SummaryWriter(log_dir=self.log_dir, **self._kwargs)
        return self._experiment

    def log_metrics(self, metrics: Mapping[str, Any], step: Optional[int] = None) -> None:
        for key, value in metrics.items():
            key = f"{self._prefix}-{key}" if self._prefix else key
            value = value.item() if hasattr(value, "item") else value
            if isinstance(value, Mapping):
                self.experiment.add_scalars(key, value, step)
            else:
                self.experiment.add_scalar(key, value, step)

    def log_hyperparams(
        self,
        params: Union[dict[str, Any], Namespace, None] = None,
        metrics: Optional[dict[str, Any]] = None,
        step: Optional[int] = None,
    ) -> None:
        params = _params(params)
        self.hparams.update(params)
        if metrics is None and self._default_hp_metric:
            metrics = {"hp_metric": -1}
        if metrics:
            from torch.utils.tensorboard.summary import hparams as hparams_summary

            flat = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in params.items()}
            exp, ssi, sei = hparams_summary(flat, metrics)  # type: ignore[no-untyped-call]
            writer = self.experiment._get_file_writer()
            writer.add_summary(exp)
            writer.add_summary(ssi)
            writer.add_summary(sei)
            self.log_metrics(metrics, step)

    def log_graph(self, model: Any, input_array: Any = None) -> None:
        if not self._log_graph:
            return
        example = getattr(model, "example_input_array", None) if input_array is None else input_array
        if example is None:
            warnings.warn(
                "TensorBoardLogger(log_graph=True): the model has no example_input_array", UserWarning, stacklevel=2
            )
            return
        self.experiment.add_graph(model, example)

    def save(self) -> None:
        if self._experiment is not None:
            self._experiment.flush()
        path = os.path.join(self.log_dir, self.NAME_HPARAMS_FILE)
        if os.path.isdir(self.log_dir) and not os.path.isfile(path):
            save_hparams_to_yaml(path, self.hparams)

    def finalize(self, status: str) -> None:
        if self._experiment is not None:
            self._experiment.flush()
            self._experiment.close()
        if status == "success":
            self.save()
