"""The trainer and the evaluation tools enter their device through core.nn.utils.device, under a mocked CUDA.

On the first GPU run the shipped default (``general.device: cuda``) ended every run at its first line:
``torch.cuda.set_device(torch.device('cuda'))`` needs an index. These tests run the trainer's and the
evaluation tools' own device code against ``tests.cuda_mock.MockCuda``, which keeps torch's rules.
"""
import pytest
import torch
import torch.distributed as dist

from core.nn.utils.device import Precision
from tests.cuda_mock import MockCuda
from train.config import load_config
from train.trainer import SimCLRTrainer


def bare_trainer(*opts):
    """A trainer object with only its config: its device and process set-up can run alone."""
    trainer = SimCLRTrainer.__new__(SimCLRTrainer)
    trainer.cfg = load_config("assets/experiments/base_simclr.yaml", list(opts))
    return trainer


def test_the_shipped_default_device_enters_gpu_0(monkeypatch):
    cuda = MockCuda(monkeypatch, count=1)
    trainer = bare_trainer()
    assert trainer.cfg.general.device == "cuda"          # the shipped default
    trainer.init_distributed()
    assert trainer.device == torch.device("cuda", 0) and cuda.entered == [0]
    assert not trainer.distributed and trainer.isMain


def test_torchrun_processes_enter_their_local_gpu_with_nccl(monkeypatch):
    cuda = MockCuda(monkeypatch, count=2)
    joined = []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda backend: joined.append((backend, list(cuda.entered))))
    monkeypatch.setattr(dist, "get_rank", lambda: 1)
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)
    trainer = bare_trainer()
    trainer.init_distributed()
    assert trainer.device == torch.device("cuda", 1)
    assert joined == [("nccl", [1])]       # the GPU is entered before NCCL starts
    assert trainer.rank == 1 and not trainer.isMain


def test_torchrun_without_cuda_uses_gloo(monkeypatch):
    MockCuda(monkeypatch, count=0)
    joined = []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda backend: joined.append(backend))
    monkeypatch.setattr(dist, "get_rank", lambda: 0)
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)
    trainer = bare_trainer()
    trainer.init_distributed()
    assert trainer.device == torch.device("cpu") and joined == ["gloo"]


def test_a_bad_device_is_a_config_error(monkeypatch):
    from train.config import ConfigError

    trainer = bare_trainer("general.device", "gpu0")
    with pytest.raises(ConfigError, match="general.device='gpu0'"):
        trainer.init_distributed()


@pytest.mark.pipeline
def test_evaluation_tools_enter_the_device_the_same_way(monkeypatch, tmp_path):
    """``encoder_from_args`` (linear_eval, finetune, tsne) enters ``cuda`` as ``cuda:0``."""
    import argparse

    from train import encoder_setup

    cuda = MockCuda(monkeypatch, count=1)
    placed = []
    monkeypatch.setattr(torch.nn.Module, "to", lambda self, device: placed.append(device) or self)
    args = argparse.Namespace(ckpt=None, load="assets/experiments/quickstart.yaml", random_init=True,
                              opts=["general.device", "cuda", "general.threads", "1", "model.kwargs.baseChNo", "4"])
    setup = encoder_setup.encoder_from_args(args)
    assert setup.device == torch.device("cuda", 0) and placed == [torch.device("cuda", 0)] and cuda.entered == [0]


@pytest.mark.pipeline
def test_a_checkpoint_saved_on_a_gpu_resumes_on_the_cpu(tmp_path, monkeypatch, capsys):
    """Every tensor of a checkpoint written on a GPU carries its device; resuming reads it to the CPU."""
    from core.nn.utils.checkpoint import list_checkpoints
    from tests.train.test_reliability import train_args
    from train import main as train_main

    args = train_args(tmp_path, "gpu_saved", "train.epochs", "1")[2:]
    assert train_main.main(args) == 0
    path = list_checkpoints(tmp_path / "ckpt" / "gpu_saved")[-1]
    state = torch.load(path, weights_only=True)
    monkeypatch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")  # as torch.save on a GPU
    torch.save(state, path)
    monkeypatch.undo()
    with pytest.raises(RuntimeError, match="CUDA"):                 # read as saved: refused on this machine
        torch.load(path, weights_only=True)
    code = train_main.main(train_args(tmp_path, "gpu_saved", "train.epochs", "2", resume="auto")[2:])
    assert code == 0, capsys.readouterr().err
    final = torch.load(list_checkpoints(tmp_path / "ckpt" / "gpu_saved")[-1], map_location="cpu", weights_only=True)
    assert final["epoch"] == 2


@pytest.mark.pipeline
def test_the_cuda_precision_trains_through_the_trainer(tmp_path, monkeypatch, capsys):
    """The trainer with the plan a GPU without bf16 gets (fp16 autocast, GradScaler, channels_last), on the CPU:
    the scaler is built, stepped, saved and restored by the trainer's own code."""
    from core.nn.utils.checkpoint import list_checkpoints
    from tests.train.test_reliability import train_args
    from train import main as train_main
    from train import trainer as trainer_module

    fp16 = Precision(amp=True, dtype=torch.float16, gradScaler=True, channelsLast=True)
    monkeypatch.setattr(trainer_module, "precision_for", lambda device, amp, channelsLast: fp16)
    assert train_main.main(train_args(tmp_path, "fp16", "train.epochs", "1")[2:]) == 0
    saved = torch.load(list_checkpoints(tmp_path / "ckpt" / "fp16")[-1], weights_only=True)
    assert saved["scaler"]["scale"] == 2.0 ** 16        # an enabled scaler's state (a disabled one saves {})
    assert train_main.main(train_args(tmp_path, "fp16", "train.epochs", "2", resume="auto")[2:]) == 0
    assert "autocast torch.float16, GradScaler, channels_last" in (tmp_path / "logs" / "fp16" / "train.log").read_text()


@pytest.mark.pipeline
def test_a_training_set_that_fits_is_kept_on_the_device_and_augmented_in_batches(tmp_path):
    """data.augDevice cuda: the digits stay on the run's device as uint8; the step's views come from whole batches."""
    from core.data.batch_augmentation import BatchImageTransforms
    from core.data.device_batches import DeviceBatches
    from tests.train.test_reliability import TINY
    from train.augmentation_setup import views_on_device

    try:
        BatchImageTransforms(8).sample_params(1, 8, 8)
    except NotImplementedError:
        pytest.skip("the batched recipe (Task 1's optional part) is not written")

    def first_views(seed, name):
        cfg = load_config("assets/experiments/quickstart.yaml", [
            *TINY, "data.augDevice", "cuda", "general.seed", str(seed), "general.name", name,
            "general.logsDir", str(tmp_path / "logs"), "general.saveDir", str(tmp_path / "ckpt")])
        trainer = SimCLRTrainer(cfg)
        try:
            assert isinstance(trainer.trainLoader, DeviceBatches) and "kept on cpu" in trainer.dataNote
            assert len(trainer.trainLoader) == len(trainer.trainSet) // 128
            trainer.sampler.set_epoch(0)
            torch.manual_seed(seed)
            images, labels = next(iter(trainer.trainLoader))
            assert images.dtype == torch.uint8 and images.shape == (128, 3, 16, 16) and labels.shape == (128,)
            return views_on_device(images, trainer.batchAugment, trainer.device)
        finally:
            trainer.close()

    viewA, viewB = first_views(0, "a")
    assert viewA.shape == viewB.shape == (128, 3, 16, 16) and viewA.dtype == torch.float32
    assert torch.isfinite(viewA).all() and -3 < float(viewA.min()) and float(viewA.max()) < 3   # ImageNet-normalized
    assert not torch.equal(viewA, viewB)                                   # two independent views
    again = first_views(0, "b")
    assert torch.equal(again[0], viewA) and torch.equal(again[1], viewB)   # the seed fixes them
    assert not torch.equal(first_views(1, "c")[0], viewA)
