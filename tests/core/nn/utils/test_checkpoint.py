"""The one checkpoint reader: training checkpoints and exported encoders, checked field by field."""
import pytest
import torch

from core.errors import CheckpointError
from core.nn.networks import ResNet
from core.nn.networks.export import export_encoder, load_encoder
from core.nn.utils.checkpoint import CKPT_FORMAT, atomic_save, load_checkpoint, read_checkpoint


def training_ckpt(**overrides):
    ckpt = {"format": CKPT_FORMAT, "epoch": 1, "globalStep": 5, "model": {"w": torch.zeros(2)},
            "modelArgs": {"inChNo": 3, "latentChNo": 8, "outChNo": 4}, "config": {"train": {"epochs": 2}}}
    ckpt.update(overrides)
    return ckpt


def test_training_checkpoint_gives_state_model_arguments_and_config(tmp_path):
    atomic_save(training_ckpt(), tmp_path / "c.pt")
    found = read_checkpoint(tmp_path / "c.pt")
    assert found.kind == "training" and found.state["globalStep"] == 5
    assert found.modelArgs["latentChNo"] == 8 and found.config == {"train": {"epochs": 2}}
    assert load_checkpoint(tmp_path / "c.pt")["epoch"] == 1


@pytest.mark.parametrize("overrides, match", [
    (dict(format="other/9"), "has format 'other/9'"),
    (dict(epoch="1"), "field 'epoch' is missing or not a int"),
    (dict(modelArgs=None), "field 'modelArgs'"),
])
def test_bad_training_checkpoints_name_the_field(tmp_path, overrides, match):
    atomic_save(training_ckpt(**overrides), tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match=match):
        read_checkpoint(tmp_path / "c.pt")


def test_exported_encoder_by_folder_or_file(tmp_path):
    encoder = ResNet(3, 16, baseChNo=4).build()
    export_encoder(encoder, tmp_path)
    (tmp_path / "config.yaml").write_text("data:\n  imgSize: 8\n")
    for path in (tmp_path, tmp_path / "encoder.pt"):
        found = read_checkpoint(path)
        assert found.kind == "encoder" and found.modelArgs["baseChNo"] == 4
        assert found.config == {"data": {"imgSize": 8}}
        loaded = load_encoder(path)
        assert all(torch.equal(loaded.state_dict()[k], v) for k, v in encoder.state_dict().items())
    with pytest.raises(CheckpointError, match="exported encoder, not a training checkpoint"):
        load_checkpoint(tmp_path / "encoder.pt")


def test_files_that_are_neither(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint(tmp_path / "missing.pt")
    torch.save({"w": torch.zeros(1)}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="encoder.json is missing"):
        read_checkpoint(tmp_path / "plain.pt")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        read_checkpoint(tmp_path / "text.pt")
