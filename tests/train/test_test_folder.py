"""``data.testPath``: train on all of rootPath, evaluate on a separate test folder with the same classes."""
import json

import pytest

from core.data.datasets import DatasetError, build_dataset
from tests.conftest import write_image_folder
from train.config import ConfigError, load_config

pytestmark = pytest.mark.pipeline


def folders(tmp_path, testClasses=("cat", "dog")):
    train = write_image_folder(tmp_path / "train", perClass=10, size=12)
    test = write_image_folder(tmp_path / "test", classes=testClasses, perClass=4, size=12)
    return train, test


def test_splits_with_a_test_folder(tmp_path):
    train, test = folders(tmp_path)
    splits = {s: build_dataset("ImageFolder", s, root=str(train), testRoot=str(test), valFraction=0.5)
              for s in ("train", "memory", "test")}
    assert len(splits["train"]) == len(splits["memory"]) == 20        # all of rootPath, no held-out part
    assert len(splits["test"]) == 8 and splits["test"].classes == ["cat", "dog"]
    assert all(str(f).startswith(str(test)) for f in splits["test"].files)
    assert sorted(splits["test"].labels) == [0] * 4 + [1] * 4


def test_class_names_must_match(tmp_path):
    train, test = folders(tmp_path, testClasses=("cat", "cow"))
    with pytest.raises(DatasetError) as err:
        build_dataset("ImageFolder", "test", root=str(train), testRoot=str(test))
    message = str(err.value)
    assert "data.testPath" in message and "['cat', 'cow']" in message and "['cat', 'dog']" in message
    assert "\n" not in message
    with pytest.raises(DatasetError, match="data.testPath=.* is not a folder"):
        build_dataset("ImageFolder", "test", root=str(train), testRoot=str(tmp_path / "missing"))


def test_test_path_is_only_for_image_folders():
    with pytest.raises(ConfigError, match="data.testPath.*ImageFolder"):
        load_config("assets/experiments/quickstart.yaml", ["data.testPath", "/data/test"])


def test_trainer_and_linear_eval_use_the_test_folder(tmp_path, tool):
    train, test = folders(tmp_path)
    opts = ["data.dataset", "ImageFolder", "data.rootPath", str(train), "data.testPath", str(test),
            "data.imgSize", "12", "model.kwargs.baseChNo", "4", "model.latentChNo", "16", "train.trainBatch", "8",
            "train.epochs", "1", "log.knnK", "5", "log.tsneSamples", "8", "log.embeddingSamples", "8",
            "general.logsDir", str(tmp_path / "logs"), "general.saveDir", str(tmp_path / "ckpt")]
    run = tool("train/main.py", "-l", "assets/experiments/quickstart.yaml", "--opts", *opts)
    assert run.returncode == 0, run.stderr
    assert "train 20 images" in run.stdout and "memory 20, test 8" in run.stdout
    assert "20 bank / 8 test images" in run.stdout and "CPU thread" in run.stdout
    probe = tool("train/linear_eval.py", "--ckpt", str(tmp_path / "ckpt" / "quickstart"), "--opts",
                 "general.logsDir", str(tmp_path / "logs"))
    assert probe.returncode == 0, probe.stderr
    result = json.loads((tmp_path / "logs" / "quickstart" / "linear_eval_encoder.json").read_text())
    assert result["train_size"] == 20 and result["test_size"] == 8

    bad = write_image_folder(tmp_path / "other", classes=("cat", "emu"), perClass=2, size=12)
    refused = tool("train/main.py", "-l", "assets/experiments/quickstart.yaml", "--opts", *opts,
                   "general.name", "refused", "data.testPath", str(bad))
    assert refused.returncode == 2 and "class subfolders must be the same" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "logs" / "refused").exists()
