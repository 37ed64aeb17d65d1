"""The frame every entry point runs, as Lightning does:

    configure_callbacks                       # model
    prepare_data                              # datamodule, then model; only when overridden
    setup(stage)                              # datamodule, callbacks, model
    configure_sharded_model, configure_model  # only when overridden
    [ckpt_path] on_load_checkpoint            # model, then callbacks; then callbacks' load_state_dict
    model to device; configure_optimizers     # fit only
    on_fit_start                              # fit only
    [ckpt_path] optimizer, scheduler, scaler and loop state restored   # fit only
    the stage's loop                          # FitLoop / EvalLoop / PredictLoop
    on_fit_end                                # fit only
    teardown(stage)                           # datamodule, callbacks, model

On an exception: callbacks' ``on_exception``, then the datamodule's, then the
exception propagates unchanged (with a note naming the hook and position).

Before any hook runs, the frame verifies the model, the datamodule and the
callbacks against the spec and checks that the model has what the stage needs.
"""

from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING, Any, Optional, Union

import torch
from torch import nn

from loophooks.engine._callbacks import Callback, EarlyStopping, ModelCheckpoint, ProgressBar
from loophooks.engine._checkpoint import load_checkpoint
from loophooks.engine._checkpoint_state import restore_model_and_callbacks, restore_training_state
from loophooks.engine._dispatch import Dispatcher
from loophooks.engine._errors import CheckpointError, ConfigurationError, HookValueError
from loophooks.engine._eval_loop import EvalLoop
from loophooks.engine._faults import run_exception_handlers
from loophooks.engine._results_table import print_results
from loophooks.engine._module import LoopModule
from loophooks.engine._optimization import _NoOptimizer, parse_optimizers
from loophooks.engine._options import reorder_callbacks
from loophooks.engine._lightning_options import anomaly_context
from loophooks.engine._predict_loop import PredictLoop
from loophooks.engine._profiler_actions import instrument_run
from loophooks.engine._profilers import PassThroughProfiler
from loophooks.engine._signals import sigint_ignored
from loophooks.engine._strategy import Strategy
from loophooks.spec import Stage
from loophooks.spec._hook_names import HookName

if TYPE_CHECKING:
    from loophooks.engine._trainer import Trainer

__all__ = ["run"]

_FIRST_STAGE: dict[Stage, Any] = {"fit": "train", "validate": "validate", "test": "test", "predict": "predict"}
_STEP_OF: dict[Stage, HookName] = {"validate": "validation_step", "test": "test_step", "predict": "predict_step"}


def run(
    trainer: Trainer,
    fn: Stage,
    model: Any,
    datamodule: Any,
    ckpt_path: Optional[Union[str, os.PathLike[str]]],
    weights_only: bool,
) -> Any:
    """Run entry point ``fn`` on ``model`` (see the module docstring for the frame)."""
    ctx = trainer._ctx
    strategy = ctx.strategy
    if model is None:
        model = strategy.module
        if model is None:
            raise ConfigurationError(f"{fn}: no model given and none from an earlier run")
    _verify(trainer, fn, model, datamodule)
    path = _resolve_ckpt_path(trainer, ckpt_path, fn)
    checkpoint = load_checkpoint(path, weights_only=weights_only) if path is not None else None
    if (
        fn == "fit"
        and checkpoint is not None
        and ("optimizer_states" not in checkpoint or "lr_schedulers" not in checkpoint)
    ):  # known from the file alone: fail before any hook runs
        raise CheckpointError(
            f"checkpoint {path!r} holds only weights (saved with weights_only=True); fit cannot resume"
        )
    trainer.ckpt_path = path
    state = ctx.state
    state.fn = fn
    state.stage = _FIRST_STAGE[fn]
    state.status = "running"
    state.should_stop = False
    trainer.datamodule = datamodule
    trainer.callbacks = list(trainer._trainer_callbacks)
    profiler = trainer.profiler
    # engine/_profilers.py: the report is named for the stage and lands in default_root_dir (Lightning's log_dir
    # without a logger); a pass-through profiler wraps nothing
    profiler.setup(stage=fn, local_rank=None, log_dir=trainer.default_root_dir)
    d = ctx.dispatch = Dispatcher(
        trainer, model, trainer.callbacks, datamodule, state, checks=trainer.check_hooks, profiler=profiler
    )
    strategy.connect(model, d)
    _attach(model, trainer)
    ctx.data.start_run(
        d,
        use_distributed_sampler=trainer.use_distributed_sampler,
        allow_zero_length=trainer.allow_zero_length_dataloader_with_multiple_devices,
    )
    ctx.signals.install()  # engine/_signals.py: SIGTERM becomes SIGTERMException between batches
    try:
        _attach_model_callbacks(trainer, d)
        _verify_loop_configuration(trainer, fn, d)
        strategy.setup_environment()
        with strategy.prepare_data_barrier():  # local rank 0 per node, or global rank 0 (per_node=False)
            if datamodule is not None and _prepares_data(strategy, datamodule):
                d.datamodule_hook("prepare_data")
            if _prepares_data(strategy, model):
                d.module_hook("prepare_data")
        d.event("setup", stage=fn)  # datamodule, callbacks, model (the table's CALLERS)
        d.module_hook("configure_sharded_model")
        d.module_hook("configure_model")
        if checkpoint is not None:
            restore_model_and_callbacks(ctx, checkpoint, path)
        metrics = ctx.metrics
        metrics.reset_results()  # every entry point starts with empty metric dicts (Lightning)
        metrics.reset_metrics()
        strategy.model_to_device()
        if fn == "fit":
            _configure_optimizers(trainer, d)
            d.hook("on_fit_start")
            metrics.log_hyperparams(model, datamodule)
            if checkpoint is not None:
                restore_training_state(ctx, trainer._fit_loop, checkpoint, path, trainer.max_epochs)
        with anomaly_context(trainer):  # Trainer(detect_anomaly=True), engine/_lightning_options.py
            result = _run_stage(trainer, fn)
        if fn == "fit":
            d.hook("on_fit_end")
        d.event("teardown", stage=fn)
        metrics.finalize("success")
        profiler.describe()  # after teardown's hooks and the loggers' finalize, as in Lightning
        strategy.teardown()
        metrics.teardown()
    except BaseException as exc:
        state.status = "interrupted"
        with sigint_ignored(isinstance(exc, KeyboardInterrupt)):  # a second Ctrl+C must not cut clean-up short
            run_exception_handlers(trainer, exc)  # engine/_faults.py: all of them run; the original propagates
        state.stage = None
        raise
    finally:
        ctx.signals.restore()
        profiler.teardown(fn)  # a torch.profiler session a failed run left open is closed
    state.status = "finished"
    state.stage = None
    return result


def _run_stage(trainer: Trainer, fn: Stage) -> Any:
    ctx = trainer._ctx
    module = ctx.strategy.module
    if isinstance(module, nn.Module):
        module.zero_grad()
    # engine/_profiler_actions.py: a profiled run's loop-level actions (an unprofiled run's loops are left as built)
    profiler = None if isinstance(trainer.profiler, PassThroughProfiler) else trainer.profiler
    if fn == "fit":
        instrument_run(ctx, [trainer._fit_loop], profiler)
        trainer._fit_loop.run_sanity_check()
        trainer._fit_loop.run()
        return None
    if fn == "predict":
        predict_loop = PredictLoop(ctx)
        instrument_run(ctx, [predict_loop], profiler)
        return predict_loop.run(trainer._return_predictions)
    trainer._eval_loop = EvalLoop(ctx, "validation" if fn == "validate" else "test")
    instrument_run(ctx, [trainer._eval_loop], profiler)
    outputs = trainer._eval_loop.run()
    results = [{k: v.item() if isinstance(v, torch.Tensor) else v for k, v in out.items()} for out in outputs]
    if trainer._verbose and trainer.is_global_zero:
        print_results(results, fn)
    return results


def _resolve_ckpt_path(trainer: Trainer, ckpt_path: Optional[Union[str, os.PathLike[str]]], fn: Stage) -> Optional[str]:
    """``"best"`` and ``"last"`` name the checkpoint callback's files, as in Lightning."""
    if ckpt_path not in ("best", "last"):
        return None if ckpt_path is None else os.fspath(ckpt_path)
    if ckpt_path == "last":  # from disk, as Lightning: a new process finds the last run's last.ckpt
        from loophooks.engine.callbacks._last_checkpoint import find_last_checkpoint

        return find_last_checkpoint(trainer, fn)
    cb = trainer.checkpoint_callback
    path = cb.best_model_path if cb is not None else None
    if not path:
        raise CheckpointError(f'ckpt_path="{ckpt_path}": no checkpoint callback has saved a {ckpt_path} checkpoint')
    return path


def _verify(trainer: Trainer, fn: Stage, model: Any, datamodule: Any) -> None:
    """The model, the datamodule and the user's callbacks against the spec, before any hook runs."""
    if not isinstance(model, nn.Module):
        raise ConfigurationError(f"{fn}: the model must be a torch.nn.Module; received {type(model).__name__}")
    from loophooks import spec

    spec.verify_module(model)
    if datamodule is not None:
        spec.verify_datamodule(datamodule)
    for cb in trainer._trainer_callbacks:
        if not isinstance(cb, (ModelCheckpoint, EarlyStopping, ProgressBar)):
            spec.verify_callback(cb)


def _verify_loop_configuration(trainer: Trainer, fn: Stage, d: Dispatcher) -> None:
    """What the stage needs of the model and the options, checked before the first hook."""
    strategy = trainer._ctx.strategy
    model = type(strategy.module).__name__
    if fn == "fit":
        if not d.has("training_step"):
            raise ConfigurationError(f"fit: {model} has no training_step")
        if not d.overridden("configure_optimizers"):
            raise ConfigurationError(f"fit: {model} has no configure_optimizers")
        if not strategy.automatic and trainer.gradient_clip_val:
            raise ConfigurationError("gradient_clip_val needs automatic optimization; clip in training_step instead")
        if not strategy.automatic and trainer.accumulate_grad_batches != 1:
            raise ConfigurationError("accumulate_grad_batches needs automatic optimization")
    step = _STEP_OF.get(fn)
    if step is not None and not d.has(step):
        raise ConfigurationError(f"{fn}: {model} has no {step}")
    if step is not None:
        sources: dict[str, tuple[HookName, Any]] = {
            "validate": ("val_dataloader", trainer.limit_val_batches),
            "test": ("test_dataloader", trainer.limit_test_batches),
            "predict": ("predict_dataloader", trainer.limit_predict_batches),
        }
        source, limit = sources[fn]
        # Lightning raises too (after setup); without a loader the run would return empty results silently.
        if limit and not trainer._ctx.data.has_source(source):
            raise ConfigurationError(
                f"`{source}` must be implemented to be used with the Trainer: {fn} got no dataloaders, "
                f"and neither {model} nor a datamodule defines {source}"
            )


def _attach_model_callbacks(trainer: Trainer, d: Dispatcher) -> None:
    """``configure_callbacks``: its callbacks replace the Trainer's of the same type, checkpointing last."""
    extra = d.module_hook("configure_callbacks")
    if not extra:
        return
    extra = list(extra) if isinstance(extra, (list, tuple)) else [extra]
    types = {type(c) for c in extra}
    replaced = {
        type(c) for c in trainer.callbacks if any(issubclass(t, type(c)) for t in types) and type(c) is not Callback
    }
    trainer.callbacks = reorder_callbacks([c for c in trainer.callbacks if type(c) not in replaced] + extra)
    d.resolve_callbacks(trainer.callbacks)


def _configure_optimizers(trainer: Trainer, d: Dispatcher) -> None:
    ctx = trainer._ctx
    strategy = ctx.strategy
    optimizers, schedulers = parse_optimizers(d.module_hook("configure_optimizers"))
    if not optimizers:
        warnings.warn("configure_optimizers returned no optimizer; training runs without stepping", stacklevel=2)
        optimizers = [_NoOptimizer()]
    if strategy.automatic and len(optimizers) > 1:
        raise HookValueError(
            "configure_optimizers", "return value", "one optimizer (several need manual optimization)", optimizers
        )
    strategy.set_optimizers(optimizers, schedulers)
    if not strategy.automatic:
        state = ctx.state

        def count_manual_step() -> None:
            state.global_step += 1

        for lo in strategy.loop_optimizers:
            lo._after_step = count_manual_step


def _prepares_data(strategy: Strategy, owner: Any) -> bool:
    """Whether this process runs ``owner.prepare_data``: local rank 0 per node, or global rank 0 only."""
    if getattr(owner, "prepare_data_per_node", True):
        return strategy.local_rank == 0
    return strategy.global_rank == 0


def _attach(model: Any, trainer: Trainer) -> None:
    """Give the model its ``trainer`` (hooks and the default bodies read ``self.trainer``)."""
    if isinstance(model, LoopModule):
        model.trainer = trainer
        return
    try:
        object.__setattr__(model, "trainer", trainer)
    except (AttributeError, TypeError):  # a read-only property of some other base class
        pass
