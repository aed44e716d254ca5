"""The one checkpoint reader: training checkpoints and exported encoders, checked field by field."""
import pytest
import torch

from core.errors import CheckpointError
from core.nn.networks import ResNet
from core.nn.networks.export import export_encoder, load_encoder
from core.nn.utils.checkpoint import CKPT_FORMAT, atomic_save, load_checkpoint, read_checkpoint


def training_ckpt(**overrides):
    ckpt = {"format": CKPT_FORMAT, "epoch": 1, "globalStep": 5, "stepInEpoch": 0, "model": {"w": torch.zeros(2)},
            "modelArgs": {"inChNo": 3, "latentChNo": 8, "outChNo": 4}, "config": {"train": {"epochs": 2}},
            "optimizer": {"state": {}, "param_groups": []}, "scheduler": None, "scaler": {}}
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
    (dict(epoch="1"), "field 'epoch' is a str, not a int"),
    (dict(modelArgs=None), "field 'modelArgs' is a NoneType, not a dict"),
    (dict(optimizer=None), "field 'optimizer' is a NoneType"),
    (dict(scheduler=[1]), "field 'scheduler' is a list, not a dict or NoneType"),
])
def test_bad_training_checkpoints_name_the_field(tmp_path, overrides, match):
    atomic_save(training_ckpt(**overrides), tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match=match):
        read_checkpoint(tmp_path / "c.pt")


def test_a_checkpoint_without_its_optimizer_is_named(tmp_path):
    ckpt = training_ckpt()
    del ckpt["optimizer"]
    atomic_save(ckpt, tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match=r"c.pt': field 'optimizer' is missing"):
        read_checkpoint(tmp_path / "c.pt")


def test_checkpoints_get_the_mode_of_other_files_and_stale_temporaries_go(tmp_path):
    import os

    from core.files import current_umask
    from core.nn.utils.checkpoint import remove_stale_temporaries

    atomic_save(training_ckpt(), tmp_path / "c.pt")
    assert os.stat(tmp_path / "c.pt").st_mode & 0o777 == 0o666 & ~current_umask()
    (tmp_path / ".checkpoint_epoch0002.pt.abc12_yz.tmp").write_bytes(b"half")
    (tmp_path / ".encoder.json.k3j9x0qa.tmp").write_bytes(b"")
    (tmp_path / ".notes.txt.tmp").write_text("a user's file")          # not ours: kept
    (tmp_path / ".c.pt.abc123.tmp").write_bytes(b"kept")                 # not a name this project writes
    removed = [p.name for p in remove_stale_temporaries(tmp_path)]
    assert removed == [".checkpoint_epoch0002.pt.abc12_yz.tmp", ".encoder.json.k3j9x0qa.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".c.pt.abc123.tmp", ".notes.txt.tmp", "c.pt"]


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
