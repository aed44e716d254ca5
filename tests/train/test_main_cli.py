"""train/main.py as a user runs it: one-line errors with exit code 2, nothing written."""
import pytest

pytestmark = pytest.mark.pipeline

QUICK = ["general.device", "cpu", "train.epochs", "1"]


def outputs(tmp_path):
    return ["general.logsDir", str(tmp_path / "logs"), "general.saveDir", str(tmp_path / "ckpt")]


def test_the_command_line_keeps_the_promise_of_the_refusal_table(cli, tmp_path):
    """One row of ``tests/train/test_refusals.py`` through the real command (the table runs in-process)."""
    result = cli("train/main.py", "-l", "assets/experiments/quickstart.yaml", "--opts",
                 *QUICK, *outputs(tmp_path), "train.epochz", "3")
    assert result.returncode == 2 and result.stderr == "error: unknown config key 'train.epochz'; known keys in " \
        "this section: ['epochs', 'trainBatch', 'valBatch']\n"
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
