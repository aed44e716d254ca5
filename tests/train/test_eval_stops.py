"""The evaluation tools to the end of their run: stops, broken checkpoints, diverging fine-tuning, outputs.

Every way such a run can end that is not a bug ends in one line: an input error with exit code 2,
a stop signal with 128 + the signal, as training does.
"""
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from core.errors import UserInputError
from tests.conftest import REPO_ROOT
from tests.train.test_reliability import reset_stop_signals, trained_run
from train import cli, finetune, linear_eval, tsne

pytestmark = pytest.mark.pipeline
EVAL_TOOLS = ("train/linear_eval.py", "train/finetune.py", "train/tsne.py")
EXTRA = {"train/linear_eval.py": ["--pixels", "off"], "train/finetune.py": ["--labels-per-class", "2", "--epochs", "1"],
         "train/tsne.py": ["--samples", "50"]}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished 1-epoch tiny run."""
    return trained_run(tmp_path_factory, "tiny", "train.epochs", "1")


@pytest.fixture
def nan_encoder(trained, tmp_path):
    """A copy of the run's exported encoder whose first convolution holds a NaN."""
    folder = tmp_path / "ckpt" / "broken"
    shutil.copytree(trained / "ckpt" / "tiny", folder)
    weights = torch.load(folder / "encoder.pt", weights_only=True)
    state = weights.get("model", weights) if isinstance(weights, dict) else weights
    name = next(key for key, value in state.items() if value.is_floating_point() and value.ndim == 4)
    state[name][0, 0, 0, 0] = float("nan")
    torch.save(weights, folder / "encoder.pt")
    return folder


@pytest.mark.parametrize("name", EVAL_TOOLS)
def test_a_checkpoint_with_nan_weights_is_refused_in_one_line(nan_encoder, tool, name):
    result = tool(name, "--ckpt", str(nan_encoder), *EXTRA[name])
    assert result.returncode == 2, result.stderr
    assert f"--ckpt {nan_encoder}: the encoder's weights hold NaN" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("lr, says", [("1e30", "fine-tuning diverged: the loss is"),
                                      ("1e308", "--lr 1e+308 must be at most 3.4e+38 (a float32)")])
def test_fine_tuning_that_diverges_is_one_line(trained, tool, lr, says):
    result = tool("train/finetune.py", "--ckpt", str(trained / "ckpt" / "tiny"), "--labels-per-class", "2",
                  "--epochs", "2", "--lr", lr)
    assert result.returncode == 2 and says in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not list((trained / "logs" / "tiny").glob("finetune_*"))


@pytest.mark.parametrize("name", EVAL_TOOLS)
@pytest.mark.parametrize("raised, code, says", [(KeyboardInterrupt(), 130, "SIGINT"),
                                                (cli.Stopped(signal.SIGTERM), 143, "SIGTERM"),
                                                (cli.Stopped(signal.SIGHUP), 129, "SIGHUP")])
def test_a_stop_while_computing_is_one_line(trained, tool, monkeypatch, name, raised, code, says):
    from train import evaluation

    def stop(*args, **kwargs):
        raise raised

    monkeypatch.setattr(evaluation, "extract_features", stop)
    monkeypatch.setattr(finetune, "fit_end_to_end", stop)
    result = tool(name, "--ckpt", str(trained / "ckpt" / "tiny"), "--force", *EXTRA[name])
    assert result.returncode == code
    assert result.stderr.strip() == f"stopped by {says}; no result was written"


@pytest.mark.parametrize("name", EVAL_TOOLS)
def test_a_real_signal_while_the_tool_loads_is_one_line(trained, name):
    """SIGTERM 0.3 s after the start lands while torch is imported: held, then answered in one line."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        proc = subprocess.Popen([sys.executable, name, "--ckpt", str(trained / "ckpt" / "tiny"), *EXTRA[name]],
                                cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                stdin=subprocess.DEVNULL, preexec_fn=reset_stop_signals,
                                env=dict(os.environ, PYTHONUNBUFFERED="1"))
        time.sleep(0.3)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 128 + sig, err
        assert err.strip() == f"stopped by {signal.Signals(sig).name}; no result was written", err


def test_input_errors_take_the_shared_path_with_debug(trained, monkeypatch, capsys):
    """SIMCLR_DEBUG shows the traceback in every tool (they no longer print their own 'error:')."""
    bad = ["--ckpt", str(trained / "missing.pt")]
    for main, extra in ((finetune.main, ["--labels-per-class", "2"]), (linear_eval.main, []), (tsne.main, [])):
        monkeypatch.delenv("SIMCLR_DEBUG", raising=False)
        assert main(bad + extra) == 2 and capsys.readouterr().err.startswith("error: ")
        monkeypatch.setenv("SIMCLR_DEBUG", "1")
        with pytest.raises(UserInputError):
            main(bad + extra)
    monkeypatch.setenv("SIMCLR_DEBUG", "1")
    with pytest.raises(UserInputError, match="--samples 2 must be >= 5"):
        tsne.main(["--ckpt", str(trained / "ckpt" / "tiny"), "--samples", "2"])


def test_tsne_checks_its_default_output_and_writes_into_a_given_folder(trained, tmp_path, tool):
    logs = tmp_path / "readonly"
    logs.mkdir()
    logs.chmod(0o500)
    try:
        if os.access(logs, os.W_OK):      # root ignores the mode: a file where the folder should be instead
            logs.chmod(0o700)
            shutil.rmtree(logs)
            logs.write_text("a file")
        result = tool("train/tsne.py", "--ckpt", str(trained / "ckpt" / "tiny"), "--samples", "50",
                      "--opts", "general.logsDir", str(logs))
        assert result.returncode == 2 and "cannot write the t-SNE figure" in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    finally:
        if logs.is_dir():
            logs.chmod(0o700)
    folder = tmp_path / "figures"
    folder.mkdir()
    result = tool("train/tsne.py", "--ckpt", str(trained / "ckpt" / "tiny"), "--samples", "50", "--out", str(folder))
    assert result.returncode == 0, result.stderr
    assert (folder / "tsne_encoder.png").is_file() and not (tmp_path / "figures.png").exists()
