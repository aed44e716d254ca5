"""train/main.py as a user runs it: one-line errors with exit code 2, nothing written."""
import pytest

pytestmark = pytest.mark.pipeline

QUICK = ["general.device", "cpu", "train.epochs", "1"]


def outputs(tmp_path):
    return ["general.logsDir", str(tmp_path / "logs"), "general.saveDir", str(tmp_path / "ckpt")]


@pytest.mark.parametrize("opts, message", [
    (["train.epochz", "3"], "error: unknown config key 'train.epochz'"),
    (["train.epochs", "many"], "error: train.epochs='many' has type str; expected int"),
    (["optimizer.name", "Adagrad"], "error: optimizer.name='Adagrad' is not supported; accepted: "
                                    "['Adam', 'AdamW', 'SGD', 'LARS']"),
    (["data.dataset", "MNIST"], "error: data.dataset='MNIST' is not supported"),
    (["model.kwargs.nrom", "'BatchNorm2d'"], "error: SimCLR: unknown hyperparameter(s) ['nrom']"),
    (["train.trainBatch", "5000"], "error: train.trainBatch=5000 is larger than the training set"),
    # a second --opts group adds to the first (it used to replace it silently)
    (["train.epochz", "3", "--opts", "train.epochs", "1"], "error: unknown config key 'train.epochz'"),
])
def test_bad_config_exits_2_with_one_line(cli, tmp_path, opts, message):
    result = cli("train/main.py", "-l", "assets/experiments/quickstart.yaml", "--opts",
                 *QUICK, *outputs(tmp_path), *opts)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "logs").exists() and not (tmp_path / "ckpt").exists()


def test_missing_config_file_and_module_form(cli, tmp_path):
    result = cli("-m", "train.main", "-l", str(tmp_path / "none.yaml"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: config file '{tmp_path / 'none.yaml'}' does not exist"


def test_resume_path_that_is_not_a_checkpoint(cli, tmp_path):
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"junk")
    result = cli("train/main.py", "-l", "assets/experiments/quickstart.yaml", "--resume", str(bogus),
                 "--opts", *QUICK, *outputs(tmp_path))
    assert result.returncode == 2
    assert "is not a readable checkpoint" in result.stderr
