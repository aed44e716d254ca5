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


@pytest.mark.parametrize("tool", ["train/linear_eval.py", "train/tsne.py", "train/finetune.py"])
def test_evaluation_tools_share_the_flags_and_honour_simclr_debug(cli, tool, tmp_path, monkeypatch):
    extra = ["--labels-per-class", "2"] if tool.endswith("finetune.py") else []
    missing = str(tmp_path / "missing.pt")
    plain = cli(tool, "--ckpt", missing, "--opts", "general.device", "cpu", "--opts", "data.numWorkers", "0", *extra)
    assert plain.returncode == 2 and plain.stderr.strip().count("\n") == 0 and "does not exist" in plain.stderr
    monkeypatch.setenv("SIMCLR_DEBUG", "1")
    import os
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    debug = subprocess.run([sys.executable, tool, "--ckpt", missing, *extra], cwd=REPO_ROOT, capture_output=True,
                           text=True, env=dict(os.environ), timeout=600, stdin=subprocess.DEVNULL)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "CheckpointError" in debug.stderr
