"""The distributed pieces that need no second process: samplers, the remainder rule, rank rules, configuration."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    DistributedSampler,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    TensorDataset,
)

from loophooks.engine import ConfigurationError, LoopModule, Trainer
from loophooks.engine import DDPStrategy
from loophooks.engine._launch import ClusterEnvironment, _script_command
from loophooks.engine._sampler import (
    UnrepeatedDistributedSampler,
    check_lengths_across_ranks,
    distribute_loader,
    distribute_loaders,
    sampler_of,
)


def _data(n: int) -> TensorDataset:
    return TensorDataset(torch.arange(n, dtype=torch.float32).unsqueeze(1))


def _indices(loader: DataLoader[Any]) -> list[int]:
    return [int(v) for batch in loader for v in batch[0].flatten()]


# --- samplers ------------------------------------------------------------------------------------


def test_train_loader_gets_a_distributed_sampler_and_keeps_its_options() -> None:
    collate = torch.utils.data.default_collate
    loader = DataLoader(_data(10), batch_size=2, shuffle=True, drop_last=True, collate_fn=collate)
    out = distribute_loader(loader, "train", num_replicas=2, rank=1)
    sampler = sampler_of(out)
    assert isinstance(sampler, DistributedSampler)
    assert sampler.shuffle and sampler.num_replicas == 2 and sampler.rank == 1
    assert out.batch_size == 2 and out.drop_last and out.collate_fn is collate


def test_unshuffled_train_loader_splits_by_stride() -> None:
    loader = DataLoader(_data(8), batch_size=2)
    parts = [_indices(distribute_loader(loader, "train", num_replicas=2, rank=r)) for r in range(2)]
    assert parts == [[0, 2, 4, 6], [1, 3, 5, 7]]


def test_evaluation_pads_the_remainder_with_the_first_samples() -> None:
    loader = DataLoader(_data(5), batch_size=2)
    parts = [_indices(distribute_loader(loader, "val", num_replicas=2, rank=r)) for r in range(2)]
    assert parts == [[0, 2, 4], [1, 3, 0]]  # equal lengths: sample 0 is seen twice
    evaluation = sampler_of(distribute_loader(DataLoader(_data(5), shuffle=True), "test", num_replicas=2, rank=0))
    assert isinstance(evaluation, DistributedSampler) and not evaluation.shuffle  # evaluation never shuffles


def test_prediction_sees_every_sample_exactly_once() -> None:
    loader = DataLoader(_data(5), batch_size=2)
    parts = [_indices(distribute_loader(loader, "predict", num_replicas=2, rank=r)) for r in range(2)]
    assert parts == [[0, 2, 4], [1, 3]]
    assert isinstance(sampler_of(distribute_loader(loader, "predict", num_replicas=2, rank=0)), UnrepeatedDistributedSampler)


class _Stream(IterableDataset[torch.Tensor]):
    def __iter__(self) -> Any:
        return iter(torch.zeros(4, 1))


@pytest.mark.parametrize(
    "loader",
    [
        DataLoader(_data(6), sampler=list(range(6))),  # a sampler of the user's own
        DataLoader(_data(6), batch_sampler=[[0, 1], [2, 3]]),  # a batch sampler of the user's own
        DataLoader(_data(6), sampler=DistributedSampler(_data(6), num_replicas=2, rank=0)),
        DataLoader(_Stream()),
        [torch.zeros(2)],  # not a DataLoader
    ],
    ids=["sampler", "batch-sampler", "distributed", "iterable", "list"],
)
def test_custom_samplers_and_other_iterables_are_left_alone(loader: Any) -> None:
    assert distribute_loader(loader, "train", num_replicas=2, rank=0) is loader


def test_a_batch_sampler_loader_keeps_its_batch_size() -> None:
    loader = DataLoader(_data(8), batch_sampler=BatchSampler(SequentialSampler(range(8)), batch_size=2, drop_last=False))
    out = distribute_loader(loader, "train", num_replicas=2, rank=0)
    assert _indices(out) == [0, 2, 4, 6] and out.batch_size == 2


def test_collections_of_loaders_keep_their_shape() -> None:
    a, b = DataLoader(_data(4)), DataLoader(_data(4))
    assert set(distribute_loaders({"a": a, "b": b}, "val_dataloader", num_replicas=2, rank=0)) == {"a", "b"}
    assert len(distribute_loaders([a, b], "val_dataloader", num_replicas=2, rank=0)) == 2
    assert isinstance(distribute_loaders((a, b), "val_dataloader", num_replicas=2, rank=0), tuple)
    assert distribute_loaders(None, "val_dataloader", num_replicas=2, rank=0) is None


def test_a_dataloader_subclass_is_left_alone_with_a_warning() -> None:
    class Mine(DataLoader):  # type: ignore[type-arg]
        pass

    loader = Mine(_data(4))
    with pytest.warns(UserWarning, match="subclass"):
        assert distribute_loader(loader, "train", num_replicas=2, rank=0) is loader


# --- zero-length loaders across ranks -------------------------------------------------------------


def _gather(lengths_by_rank: list[list[float]]) -> Any:
    return lambda local: [torch.tensor(row, dtype=torch.float64) for row in lengths_by_rank]


def test_an_empty_loader_on_one_rank_is_an_error_everywhere() -> None:
    with pytest.raises(ConfigurationError, match=r"zero length on process rank\(s\) \[1\].*allow_zero_length"):
        check_lengths_across_ranks([[]], "train_dataloader", _gather([[3.0], [0.0]]), allow_zero_length=False, rank=0)


def test_an_empty_loader_on_one_rank_is_allowed_when_asked() -> None:
    check_lengths_across_ranks([[]], "val_dataloader", _gather([[3.0], [0.0]]), allow_zero_length=True, rank=1)


def test_a_loader_empty_everywhere_warns_on_rank_zero() -> None:
    with pytest.warns(UserWarning, match="no batches on any process"):
        check_lengths_across_ranks([[]], "val_dataloader", _gather([[0.0], [0.0]]), allow_zero_length=False, rank=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_lengths_across_ranks([[]], "val_dataloader", _gather([[0.0], [0.0]]), allow_zero_length=False, rank=1)


# --- set_epoch, and the single-process strategy's answers ------------------------------------------


class _Tiny(LoopModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self.layer(batch[0]).pow(2).mean()

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.1)


class _SpySampler(DistributedSampler[Any]):
    epochs: list[int] = []

    def set_epoch(self, epoch: int) -> None:
        type(self).epochs.append(epoch)
        super().set_epoch(epoch)


def test_the_fit_loop_sets_the_sampler_epoch_every_epoch() -> None:
    data = _data(4)
    _SpySampler.epochs = []
    loader = DataLoader(data, batch_size=2, sampler=_SpySampler(data, num_replicas=1, rank=0, shuffle=True))
    trainer = Trainer(accelerator="cpu", devices=1, max_epochs=3, enable_progress_bar=False, enable_checkpointing=False)
    trainer.fit(_Tiny(), loader)
    assert _SpySampler.epochs == [0, 1, 2]


def test_one_process_reports_rank_zero() -> None:
    trainer = Trainer(accelerator="cpu", devices=1, enable_progress_bar=False)
    assert (trainer.global_rank, trainer.local_rank, trainer.node_rank, trainer.world_size) == (0, 0, 0, 1)
    assert trainer.is_global_zero


# --- configuration -------------------------------------------------------------------------------

_RANK_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture
def no_rank_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in _RANK_VARS:
        monkeypatch.delenv(key, raising=False)


def test_ddp_is_selected_by_name_and_counts_processes(no_rank_env: None) -> None:
    trainer = Trainer(strategy="ddp", accelerator="cpu", devices=2, num_nodes=1, enable_progress_bar=False)
    assert isinstance(trainer.strategy, DDPStrategy)
    assert trainer.world_size == 2 and trainer.global_rank == 0 and trainer.is_global_zero
    assert trainer.strategy.process_group_backend == "gloo"
    assert trainer.strategy.root_device == torch.device("cpu")


def test_ranks_come_from_the_launcher_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29500")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("NODE_RANK", "1")
    trainer = Trainer(strategy="ddp", accelerator="cpu", devices=2, num_nodes=2, enable_progress_bar=False)
    assert (trainer.global_rank, trainer.local_rank, trainer.node_rank, trainer.world_size) == (3, 1, 1, 4)
    assert not trainer.is_global_zero
    with pytest.raises(ConfigurationError, match="WORLD_SIZE=4"):
        Trainer(strategy="ddp", accelerator="cpu", devices=2, num_nodes=1, enable_progress_bar=False)


def test_missing_rank_variables_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("MASTER_PORT", raising=False)
    with pytest.raises(ConfigurationError, match="MASTER_PORT"):
        ClusterEnvironment.from_env()


def test_a_plain_launch_refuses_to_rerun_pytest(no_rank_env: None) -> None:
    with pytest.raises(ConfigurationError, match="torchrun --nproc-per-node"):
        _script_command()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"strategy": "fsdp"}, "strategy='fsdp'"),
        ({"strategy": "ddp", "devices": 0}, "devices"),
        ({"strategy": "ddp", "devices": 2, "num_nodes": 0}, "num_nodes"),
        ({"strategy": "ddp", "accelerator": "tpu"}, "accelerator"),
    ],
)
def test_bad_distributed_options_are_refused_before_work_starts(no_rank_env: None, kwargs: dict[str, Any], match: str) -> None:
    options: dict[str, Any] = {"accelerator": "cpu", "enable_progress_bar": False}
    options.update(kwargs)
    with pytest.raises(ConfigurationError, match=match):
        Trainer(**options)


def test_ddp_strategy_checks_its_arguments() -> None:
    with pytest.raises(ConfigurationError, match="process_group_backend"):
        DDPStrategy(process_group_backend="mpi")
    with pytest.raises(ConfigurationError, match="timedelta"):
        DDPStrategy(timeout=30)  # type: ignore[arg-type]


@pytest.mark.cuda
def test_cuda_ddp_picks_the_local_ranks_device(no_rank_env: None) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    trainer = Trainer(strategy="ddp", accelerator="cuda", devices=1, enable_progress_bar=False)
    assert trainer.strategy.root_device == torch.device("cuda", 0)
    assert trainer.strategy.process_group_backend == "nccl"  # type: ignore[attr-defined]


def test_use_distributed_sampler_false_keeps_the_users_loaders(no_rank_env: None) -> None:
    strategy = Trainer(strategy="ddp", accelerator="cpu", devices=2, enable_progress_bar=False).strategy
    loader = DataLoader(_data(4), shuffle=True)
    kept = strategy.process_dataloaders("train_dataloader", loader, use_distributed_sampler=False, allow_zero_length=False)
    assert kept is loader
    replaced = strategy.process_dataloaders("train_dataloader", loader, use_distributed_sampler=True, allow_zero_length=False)
    assert isinstance(sampler_of(replaced), DistributedSampler)


def test_several_nodes_without_torchrun_need_the_rendezvous_variables(no_rank_env: None) -> None:
    from loophooks.engine._launch import ScriptLauncher

    launcher = ScriptLauncher(2, num_nodes=2)
    with pytest.raises(ConfigurationError, match="MASTER_ADDR, MASTER_PORT and NODE_RANK"):
        launcher.launch()
    assert not launcher.launched


def test_the_script_launcher_reruns_the_same_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import __main__
    import importlib.machinery
    import sys

    monkeypatch.setattr(__main__, "__file__", "/jobs/train.py", raising=False)
    monkeypatch.setattr(__main__, "__spec__", None, raising=False)
    monkeypatch.setattr(sys, "argv", ["/jobs/train.py", "--epochs", "3"])
    assert _script_command() == [sys.executable, "/jobs/train.py", "--epochs", "3"]
    monkeypatch.setattr(__main__, "__spec__", importlib.machinery.ModuleSpec("jobs.train", None))
    assert _script_command() == [sys.executable, "-m", "jobs.train", "--epochs", "3"]
    monkeypatch.setattr(sys, "argv", ["-c"])
    with pytest.raises(ConfigurationError, match="python -c"):
        _script_command()
