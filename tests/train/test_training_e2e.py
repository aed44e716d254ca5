"""End to end: train/main.py in a subprocess, then read back what a user would look at."""
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from core.nn.networks.export import load_encoder
from core.nn.utils.checkpoint import list_checkpoints, load_checkpoint
from tests.conftest import write_image_folder

pytestmark = [pytest.mark.slow, pytest.mark.pipeline]

SMALL = ["general.device", "cpu", "model.kwargs.baseChNo", "4", "model.latentChNo", "32",
         "model.outChNo", "16", "model.kwargs.mlpLayers", "[32]", "data.imgSize", "16",
         "data.numWorkers", "0", "log.evalEpoch", "1", "log.saveEpoch", "1", "optimizer.warmupEpochs", "1"]


def train_cli(cli, tmp_path, name, *opts, resume=None):
    """``train/main.py`` with the small model, through ``cli`` (a new process) or ``tool`` (in this one)."""
    args = ["train/main.py", "-l", "assets/experiments/quickstart.yaml"]
    if resume:
        args += ["--resume", resume]
    args += ["--opts", *SMALL, "general.name", name, "general.logsDir", str(tmp_path / "logs"),
             "general.saveDir", str(tmp_path / "ckpt"), *opts]
    return cli(*args)


def read_events(logDir):
    acc = EventAccumulator(str(logDir), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def projector_names(logDir):
    """The projector's tensor names, each checked to point at its own files.

    The projector opens on the first name in alphabetical order among equally sized tensors with
    metadata (tensorboard's vz-projector), so the sorted list's head is what a user sees first.
    """
    from train.board_layout import read_projector_config

    infos = read_projector_config(logDir).embeddings
    for info in infos:
        assert (logDir / info.tensor_path).is_file() and (logDir / info.metadata_path).is_file()
    return [info.tensor_name for info in infos]


def assert_run_is_complete(tmp_path, name, epochs, steps):
    logDir, saveDir = tmp_path / "logs" / name, tmp_path / "ckpt" / name
    acc = read_events(logDir)
    tags = acc.Tags()
    for tag in ("train/loss", "train/lr", "train/pos_top1", "train/img_per_s", "eval/knn_top1"):
        assert tag in tags["scalars"], tag
    assert len(acc.Scalars("train/loss")) == steps
    perEpoch = steps // epochs
    epochSteps = [perEpoch * e for e in range(1, epochs + 1)]
    # the untrained network at step 0, then every epoch; one x-axis (the optimizer step) for every scalar
    assert [e.step for e in acc.Scalars("eval/knn_top1")] == [0] + epochSteps
    assert all(0 <= e.value <= 1 for e in acc.Scalars("eval/knn_top1"))
    for tag in ("train/epoch_loss", "train/img_per_s", "train/epoch"):
        assert [e.step for e in acc.Scalars(tag)] == epochSteps, tag
    assert [e.value for e in acc.Scalars("train/epoch")] == list(range(1, epochs + 1))
    assert "custom_scalars__config__" in tags["tensors"]  # the CUSTOM SCALARS page (kNN chart unsmoothed)
    assert {"train/view_pairs", "eval/tsne"} <= set(tags["images"])
    projector = (logDir / "projector_config.pbtxt").read_text()
    assert "sprite" in projector and "metadata_path" in projector
    names = projector_names(logDir)
    assert sorted(names) == [f"h, latest (step {steps})"] + [f"h, step {s:05d}" for s in [0] + epochSteps[:-1]]
    assert list(logDir.glob("*/h/tensors.tsv")) and list(logDir.glob("*/h/sprite.png"))
    for epoch in range(epochs + 1):
        assert (logDir / f"tsne_epoch{epoch:04d}.png").stat().st_size > 1000
    assert (logDir / "config.yaml").is_file()
    assert "INFO done: final loss" in (logDir / "train.log").read_text().splitlines()[-1]
    ckpts = list_checkpoints(saveDir)
    assert ckpts and ckpts[-1].name == f"checkpoint_epoch{epochs:04d}.pt"
    ckpt = load_checkpoint(ckpts[-1])  # weights_only=True inside
    assert ckpt["epoch"] == epochs and ckpt["globalStep"] == steps
    assert {"model", "optimizer", "scheduler", "scaler", "config", "rng"} <= set(ckpt)
    encoderState = torch.load(saveDir / "encoder.pt", weights_only=True)
    encoder = load_encoder(saveDir)
    assert set(encoderState) == set(encoder.state_dict())
    assert encoder(torch.randn(2, 3, 16, 16)).shape == (2, 32)


def test_digits_two_epochs_leave_a_complete_run(cli, tmp_path):
    result = train_cli(cli, tmp_path, "digits", "train.epochs", "2", "train.trainBatch", "256")
    assert result.returncode == 0, result.stderr
    assert "kNN top-1" in result.stdout and "final loss" in result.stdout
    assert str(tmp_path / "logs" / "digits") in result.stdout  # says where the logs go
    assert_run_is_complete(tmp_path, "digits", epochs=2, steps=2 * (1438 // 256))


def test_image_folder_run_resume_and_no_overwrite(tool, tmp_path):
    """In-process (the digits test above runs the real command)."""
    cli = tool
    root = write_image_folder(tmp_path / "images", perClass=15)  # 24 train, 6 test
    data = ["data.dataset", "ImageFolder", "data.rootPath", str(root), "train.trainBatch", "8",
            "log.knnK", "5", "log.tsneSamples", "6", "log.embeddingSamples", "4"]
    first = train_cli(cli, tmp_path, "folder", "train.epochs", "2", *data)
    assert first.returncode == 0, first.stderr
    assert_run_is_complete(tmp_path, "folder", epochs=2, steps=2 * (24 // 8))

    again = train_cli(cli, tmp_path, "folder", "train.epochs", "2", *data)
    assert again.returncode == 2
    assert "already holds a run" in again.stderr and "--resume auto" in again.stderr
    assert "general.name" in again.stderr

    resumed = train_cli(cli, tmp_path, "folder", "train.epochs", "3", *data, resume="auto")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stdout and "epoch 3/3" in resumed.stdout
    assert "epoch 1/3" not in resumed.stdout
    ckpt = load_checkpoint(list_checkpoints(tmp_path / "ckpt" / "folder")[-1])
    assert ckpt["epoch"] == 3 and ckpt["globalStep"] == 3 * (24 // 8)
    assert "(untrained)" not in resumed.stdout          # the step-0 baseline is not repeated on resume
    acc = read_events(tmp_path / "logs" / "folder")
    assert [e.step for e in acc.Scalars("eval/knn_top1")] == [0, 3, 6, 9]
    names = projector_names(tmp_path / "logs" / "folder")     # a new launch keeps the earlier embeddings
    assert sorted(names) == ["h, latest (step 9)", "h, step 00000", "h, step 00003", "h, step 00006"]


def test_cifar10_archive_trains_in_process(tiny_cifar, tmp_path):
    from train.config import load_config
    from train.trainer import SimCLRTrainer

    cfg = load_config("assets/experiments/base_simclr.yaml", [
        *SMALL, "train.epochs", "1", "train.trainBatch", "16", "train.valBatch", "16",
        "data.rootPath", str(tiny_cifar), "data.imgSize", "32", "log.knnK", "10",
        "log.tsneSamples", "10", "log.embeddingSamples", "5",
        "general.logsDir", str(tmp_path / "logs"), "general.saveDir", str(tmp_path / "ckpt")])
    trainer = SimCLRTrainer(cfg)
    try:
        metrics = trainer.train()
    finally:
        trainer.close()
    assert len(trainer.trainSet) == 40 and len(trainer.testSet) == 20
    assert metrics["loss"] > 0 and 0 <= metrics["knn_top1"] <= 1
    assert list_checkpoints(tmp_path / "ckpt" / "base_simclr")
