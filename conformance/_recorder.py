"""Record every hook call a trainer makes, as :class:`~loophooks.spec.Call` s.

A :class:`Recorder` turns a model, callback or datamodule class into a subclass
whose every hook from the spec's table (:data:`~loophooks.spec.HOOKS`,
:data:`~loophooks.spec.CALLBACK_HOOKS`) first appends a ``Call`` to one shared
list (hook, target, normalised arguments, the model's mode, the autograd state,
the batch's device) and then does what the class did before (``super()``).
Nothing else changes: the wrapper carries the wrapped method's signature, so a
trainer that inspects signatures sees the user's.

:func:`scenario_model` builds the reference model of the spec's expected
arguments (``loophooks.spec._order``) on an adapter's module base, and
:func:`record_run` runs one :class:`~loophooks.spec.Scenario` through an adapter
and returns its trace.
"""

from __future__ import annotations

import functools
import inspect
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from loophooks.conformance._data import CustomBatch, batch_sources, fingerprint, loaders_for, make_datamodule
from loophooks.conformance._normalize import NormalizeContext, grad_mode, normalize, tensor_device
from loophooks.spec._hook_names import hook_name as checked_hook_name
from loophooks.spec import (
    CALLBACK_HOOKS,
    DATAMODULE_HOOKS,
    FEATURES,
    HOOKS,
    OUTPUTS,
    Call,
    Fault,
    Hook,
    Scenario,
    Target,
)

__all__ = [
    "Recorder",
    "datamodule_hooks",
    "record_run",
    "scenario_model",
    "trainer_settings",
]

_CALLBACK_LEADING = ("trainer", "pl_module")


def datamodule_hooks() -> dict[str, Hook]:
    """The hooks a datamodule may implement, from the table."""
    return dict(DATAMODULE_HOOKS)


class Recorder:
    """One shared trace, and the classes that write to it.

    ``fault`` makes the model's hook ``fault.where`` raise ``RuntimeError`` at
    training batch ``fault.batch`` of epoch ``fault.epoch``, after it is recorded.
    """

    def __init__(
        self, *, fault: Fault | None = None, sources: Mapping[tuple[float, ...], tuple[str, int, int]] | None = None
    ) -> None:
        self.calls: list[Call] = []
        self.sources = sources
        """The scenario's batches by fingerprint (``_data.batch_sources``): each batch hook's
        call is tagged with the loader and position its batch came from."""
        self.fault_fired = False
        self.context = NormalizeContext()
        self.fault = fault
        self.model: Any = None
        self._batch_idx: int | None = None

    # -- the classes ------------------------------------------------------------------------

    def model_class(self, base: type[Any], framework_base: type[Any] | None = None) -> type[Any]:
        """``base`` with every module hook of the table recorded.

        A hook the loop calls only when the user overrides it (``override_only`` in
        the table) is recorded only where ``base`` overrides it below
        ``framework_base`` (or in ``base`` itself when it is not given): wrapping
        it would otherwise make it overridden and change what the trainer does.
        """
        recorder = self
        original_init = base.__init__

        @functools.wraps(original_init)
        def __init__(model: Any, *args: Any, **kwargs: Any) -> None:
            original_init(model, *args, **kwargs)
            recorder.model = model

        cls = type(f"Recording{base.__name__}", (base,), {"__init__": __init__})
        for name, hook in HOOKS.items():
            if not hook.override_only or _overrides(base, name, framework_base):
                self._install(cls, name, hook.param_names, "module")
        return cls

    def callback_class(self, base: type[Any], name: str | None = None) -> type[Any]:
        """``base`` with every callback hook of the table recorded."""
        cls = type(name or f"Recording{base.__name__}", (base,), {})
        for hook_name, hook in CALLBACK_HOOKS.items():
            params = hook.param_names
            if params[:2] == _CALLBACK_LEADING:  # trainer and pl_module are not recorded
                self._install(cls, hook_name, params[2:], "callback", skip=2)
            else:
                self._install(cls, hook_name, params, "callback")
        return cls

    def datamodule_class(self, base: type[Any], framework_base: type[Any] | None = None) -> type[Any]:
        """``base`` with every datamodule hook of the table recorded (``override_only``
        hooks as in :meth:`model_class`)."""
        cls = type(f"Recording{base.__name__}", (base,), {})
        for name, hook in datamodule_hooks().items():
            if not hook.override_only or _overrides(base, name, framework_base):
                self._install(cls, name, hook.param_names, "datamodule")
        return cls

    # -- recording --------------------------------------------------------------------------

    def _install(self, cls: type[Any], name: str, names: tuple[str, ...], target: Target, *, skip: int = 0) -> None:
        """Wrap ``cls``'s inherited ``name`` (if it has one) to record, then call it.

        ``names`` are the parameters after ``self``; a callback hook's first two
        (``skip=2``: ``trainer``, ``pl_module``) are not recorded. A trainer may pass
        any argument by position or by keyword.
        """
        method = getattr(cls, name, None)
        if not callable(method):
            return
        recorder = self
        full = (*_CALLBACK_LEADING, *names) if skip else names

        def hook(owner: Any, *args: Any, **kwargs: Any) -> Any:
            bound = _bind(full, args, kwargs)
            pl_module = bound.pop("pl_module", None) if skip else None
            if skip:
                bound.pop("trainer", None)
            recorder._record(name, target, bound, owner, pl_module)
            result = getattr(super(cls, owner), name)(*args, **kwargs)
            if target == "module" and name == "configure_optimizers":
                recorder._remember_optimizers(result)
            return result

        hook.__name__ = name
        hook.__qualname__ = f"{cls.__name__}.{name}"
        hook.__doc__ = method.__doc__
        try:
            # trainers inspect hook signatures (Lightning looks for ``dataloader_idx``)
            hook.__signature__ = inspect.signature(method)  # type: ignore[attr-defined]
        except (TypeError, ValueError):  # pragma: no cover - callables without a signature
            pass
        setattr(cls, name, hook)

    def _record(self, name: str, target: Target, bound: dict[str, Any], owner: Any, pl_module: Any) -> None:
        """Append the call (``bound``: its arguments by name) to the trace."""
        model = pl_module if pl_module is not None else (owner if target == "module" else self.model)
        training = bool(model.training) if isinstance(model, torch.nn.Module) else None
        batch = bound.get("batch")
        source = None
        if target == "module" and name.endswith("_batch_start") and self.sources is not None and "batch" in bound:
            key = fingerprint(batch)
            source = self.sources.get(key) if key is not None else None
        self.calls.append(
            Call(
                checked_hook_name(name),  # only the table's hooks are wrapped: another name is a bug
                target,
                {k: normalize(v, self.context) for k, v in bound.items()},
                training=training,
                grad=grad_mode(),  # type: ignore[arg-type]
                device=tensor_device(batch) if "batch" in bound else None,
                source=source,
            )
        )
        if target == "module":
            if name == "on_train_batch_start":
                self._batch_idx = bound.get("batch_idx")
            self._maybe_fault(name, owner)
            if name == "on_train_epoch_end":
                self._batch_idx = None

    def _maybe_fault(self, name: str, model: Any) -> None:
        fault = self.fault
        if fault is None or name != fault.where:
            return
        epoch = getattr(model, "current_epoch", None)
        if (epoch, self._batch_idx) == (fault.epoch, fault.batch):
            self.fault_fired = True
            raise RuntimeError(f"loophooks: fault injected in {name} at epoch {epoch}, batch {self._batch_idx}")

    def _remember_optimizers(self, result: Any) -> None:
        optimizers: list[Any] = []
        schedulers: list[Any] = []

        def visit(item: Any) -> None:
            if isinstance(item, torch.optim.Optimizer):
                optimizers.append(item)
            elif isinstance(item, Mapping):
                if "optimizer" in item:
                    visit(item["optimizer"])
                sched = item.get("lr_scheduler")
                if sched is not None:
                    schedulers.append(sched["scheduler"] if isinstance(sched, Mapping) else sched)
            elif isinstance(item, (list, tuple)):
                for sub in item:
                    visit(sub)
            elif item is not None:
                schedulers.append(item)

        visit(result)
        self.context.optimizers = optimizers
        self.context.schedulers = schedulers


def _bind(names: tuple[str, ...], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """A call's arguments by parameter name: positional ones in ``names``' order (any
    beyond them as ``_arg<i>``), then the keywords."""
    bound = {names[i] if i < len(names) else f"_arg{i}": value for i, value in enumerate(args)}
    bound.update(kwargs)
    return bound


def _overrides(cls: type[Any], name: str, framework_base: type[Any] | None) -> bool:
    """Whether a class of ``cls``'s MRO below ``framework_base`` defines ``name``
    (without ``framework_base``: whether ``cls`` itself does)."""
    for klass in cls.__mro__:
        if klass is framework_base:
            return False
        if name in vars(klass):
            return True
        if framework_base is None:
            return False
    return False


# --- the reference model --------------------------------------------------------------------


def _rows(batch: Any) -> torch.Tensor:
    if isinstance(batch, list):  # a combined batch of several training loaders: their rows together
        return torch.cat([_rows(b) for b in batch])
    rows: torch.Tensor = batch.x if isinstance(batch, CustomBatch) else batch
    return rows


def scenario_model(
    base: type[Any], scenario: Scenario, callback_factory: Callable[[], list[Any]] | None = None
) -> type[Any]:
    """The spec's reference model on ``base`` (a ``LightningModule``-like class).

    A ``Linear(FEATURES, OUTPUTS)``; each step returns ``{"loss": ...}`` (predict:
    the outputs); one SGD optimizer, with a ``StepLR`` stepped per ``"step"`` or
    ``"epoch"`` when the scenario asks. Under manual optimisation ``training_step``
    zeroes, back-propagates and steps once. ``on_train_batch_start`` returns -1 at
    ``scenario.skip_epoch_at``. ``callback_factory`` supplies ``configure_callbacks``.
    """

    class ScenarioModel(base):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self._loaders: dict[str, Any] = {} if scenario.datamodule else loaders_for(scenario)
            torch.manual_seed(0)
            self.layer = torch.nn.Linear(FEATURES, OUTPUTS)
            if scenario.frozen_submodule:
                # frozen as users freeze a pretrained part: eval mode (dropout off) and no gradients;
                # it must stay so through validation (Lightning #2551)
                self.frozen = torch.nn.Sequential(torch.nn.Linear(OUTPUTS, OUTPUTS), torch.nn.Dropout(0.5))
                self.frozen.eval().requires_grad_(False)
            self.automatic_optimization = not scenario.manual_optimization

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.layer(x)
            if scenario.frozen_submodule:
                out = self.frozen(out)
            return out

        def _loss(self, batch: Any) -> torch.Tensor:
            out: torch.Tensor = self(_rows(batch))
            return out.float().pow(2).mean()

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            if scenario.manual_optimization:
                optimizer = self.optimizers()
                optimizer.zero_grad()
                loss = self._loss(batch)
                self.manual_backward(loss)
                optimizer.step()
                return {"loss": loss.detach()}
            return {"loss": self._loss(batch)}

        def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Any:
            return {"loss": self._loss(batch)}

        def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Any:
            return {"loss": self._loss(batch)}

        def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Any:
            return self(_rows(batch))

        def configure_optimizers(self) -> Any:
            optimizer = torch.optim.SGD(self.parameters(), lr=0.01)
            if scenario.lr_scheduler is None:
                return optimizer
            scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.9)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": scenario.lr_scheduler}}

        # without a datamodule the model serves the data, so its loader hooks are called
        if not scenario.datamodule:

            def train_dataloader(self) -> Any:
                return self._loaders["train"]

            def val_dataloader(self) -> Any:
                return self._loaders["val"]

            def test_dataloader(self) -> Any:
                return self._loaders["test"]

            def predict_dataloader(self) -> Any:
                return self._loaders["predict"]

        # the hooks a loop calls only when overridden: the reference model overrides
        # them, keeping their default behaviour, so that they are called and recorded
        def prepare_data(self) -> None:
            super().prepare_data()

        def configure_model(self) -> None:
            super().configure_model()

        if scenario.mode_hooks:

            def on_validation_model_train(self) -> None:
                super().on_validation_model_train()

            def on_test_model_train(self) -> None:
                super().on_test_model_train()

        def configure_callbacks(self) -> Any:
            return callback_factory() if callback_factory is not None else []

        def on_train_batch_start(self, batch: Any, batch_idx: int) -> Any:
            if scenario.skip_epoch_at == (self.current_epoch, batch_idx):
                return -1
            return super().on_train_batch_start(batch, batch_idx)

        if scenario.custom_batch:

            def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
                if isinstance(batch, CustomBatch):
                    return batch.to(device)
                return super().transfer_batch_to_device(batch, device, dataloader_idx)

    return ScenarioModel


def trainer_settings(scenario: Scenario) -> dict[str, Any]:
    """The scenario's Trainer options, with Lightning's names; unset ones are left out."""
    settings: dict[str, Any] = {
        "max_epochs": scenario.max_epochs,
        "max_steps": scenario.max_steps,
        "num_sanity_val_steps": scenario.num_sanity_val_steps,
        "check_val_every_n_epoch": scenario.check_val_every_n_epoch,
        "accumulate_grad_batches": scenario.accumulate_grad_batches,
        "precision": scenario.precision,
        "accelerator": "gpu" if scenario.device == "cuda" else "cpu",
        "devices": 1,
    }
    for key in ("limit_train_batches", "limit_val_batches", "limit_test_batches", "limit_predict_batches"):
        value = getattr(scenario, key)
        if value is not None:
            settings[key] = value
    if scenario.val_check_interval is not None:
        settings["val_check_interval"] = scenario.val_check_interval
    if scenario.gradient_clip_val is not None:
        settings["gradient_clip_val"] = scenario.gradient_clip_val
        settings["gradient_clip_algorithm"] = scenario.gradient_clip_algorithm
    return settings


def _saver(base: type[Any], scenario: Scenario, path: Path) -> Any:
    """A callback that saves a checkpoint where ``scenario.resume`` says, through the
    trainer's own ``save_checkpoint`` (as a checkpoint callback does)."""
    assert scenario.resume is not None
    epoch, at_batch = scenario.resume.epoch, scenario.resume.batch

    class SaveAt(base):  # type: ignore[misc]
        def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            if at_batch is not None and (trainer.current_epoch, batch_idx) == (epoch, at_batch):
                trainer.save_checkpoint(str(path))

        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            if at_batch is None and trainer.current_epoch == epoch:
                trainer.save_checkpoint(str(path))

    return SaveAt()


def record_run(
    adapter: Any, scenario: Scenario, *, workdir: str | None = None
) -> tuple[list[Call], BaseException | None]:
    """Run ``scenario`` through ``adapter`` with everything recorded.

    Returns the trace and the exception the run ended with (``None`` when it
    finished). A ``resume`` scenario runs twice into the same trace: a fit that
    saves the checkpoint, then a fit from it.
    """
    recorder = Recorder(fault=scenario.fault, sources=batch_sources(scenario))
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        ckpt = Path(tmp) / "resume.ckpt"
        error = _one_run(adapter, scenario, recorder, tmp, saver_path=ckpt if scenario.resume else None)
        if scenario.resume is not None and error is None:
            if not ckpt.exists():
                raise RuntimeError(
                    f"scenario {scenario.name!r}: the first run saved no checkpoint at {scenario.resume}"
                )
            error = _one_run(adapter, scenario, recorder, tmp, ckpt_path=str(ckpt))
    return recorder.calls, error


def _one_run(
    adapter: Any,
    scenario: Scenario,
    recorder: Recorder,
    root: str,
    *,
    saver_path: Path | None = None,
    ckpt_path: str | None = None,
) -> BaseException | None:
    # one class per callback: trainers tell callbacks' saved states apart by their type
    def make_callbacks(prefix: str, count: int) -> list[Any]:
        return [recorder.callback_class(adapter.callback_base, f"{prefix}{i}")() for i in range(count)]

    def model_callbacks() -> list[Any]:
        return make_callbacks("RecordingModelCallback", scenario.model_callbacks)

    model_cls = recorder.model_class(
        scenario_model(adapter.module_base, scenario, model_callbacks), adapter.module_base
    )
    model = model_cls()
    callbacks = make_callbacks("RecordingCallback", scenario.callbacks)
    if saver_path is not None:
        callbacks.append(_saver(adapter.callback_base, scenario, saver_path))
    datamodule = None
    if scenario.datamodule:
        if adapter.datamodule_base is None:
            raise RuntimeError(f"adapter {adapter.name!r} has no datamodule_base for scenario {scenario.name!r}")
        base = make_datamodule(adapter.datamodule_base, scenario)
        datamodule = recorder.datamodule_class(base, adapter.datamodule_base)()
    settings = trainer_settings(scenario)
    settings["default_root_dir"] = root
    settings["enable_checkpointing"] = False
    try:
        adapter.run(
            scenario.fn,
            model,
            settings=settings,
            callbacks=callbacks,
            dataloaders=None,  # the model's or the datamodule's loader hooks serve the data
            datamodule=datamodule,
            ckpt_path=ckpt_path,
            return_predictions=scenario.return_predictions,
        )
    except Exception as error:  # the trace up to the failure is the result
        return error
    return None
