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


def test_resume_path_that_is_not_a_checkpoint(tool, tmp_path):
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"junk")
    result = tool("train/main.py", "-l", "assets/experiments/quickstart.yaml", "--resume", str(bogus),
                  "--opts", *QUICK, *outputs(tmp_path))
    assert result.returncode == 2
    assert "is not a readable checkpoint" in result.stderr


@pytest.mark.parametrize("name", ["linear_eval", "tsne", "finetune"])
def test_evaluation_tools_share_the_flags_and_honour_simclr_debug(name, tmp_path, monkeypatch, capsys):
    """In-process: one line and 2 for an input error; with SIMCLR_DEBUG the error itself (a traceback)."""
    from core.nn.utils.checkpoint import CheckpointError
    from train import finetune, linear_eval, tsne

    main = {"linear_eval": linear_eval, "tsne": tsne, "finetune": finetune}[name].main
    extra = ["--labels-per-class", "2"] if name == "finetune" else []
    missing = str(tmp_path / "missing.pt")
    monkeypatch.delenv("SIMCLR_DEBUG", raising=False)
    assert main(["--ckpt", missing, "--opts", "general.device", "cpu", "--opts", "data.numWorkers", "0", *extra]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "does not exist" in err
    monkeypatch.setenv("SIMCLR_DEBUG", "1")
    with pytest.raises(CheckpointError, match="does not exist"):
        main(["--ckpt", missing, *extra])


def test_an_uncaught_error_under_simclr_debug_is_a_traceback_from_the_real_command(tmp_path, monkeypatch):
    import os
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    monkeypatch.setenv("SIMCLR_DEBUG", "1")
    debug = subprocess.run([sys.executable, "train/finetune.py", "--ckpt", str(tmp_path / "missing.pt"),
                            "--labels-per-class", "2"], cwd=REPO_ROOT, capture_output=True, text=True,
                           env=dict(os.environ), timeout=600, stdin=subprocess.DEVNULL)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "CheckpointError" in debug.stderr


# A stand-in for yacs that delivers a stop signal to its own process while train/main.py's first imports run,
# then loads the real package: the signal lands exactly where a Ctrl-C in the first ~0.05 s lands.
SIGNALLING_YACS = """
import importlib.machinery, importlib.util, os, signal, sys
os.kill(os.getpid(), signal.SIG{name})
here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.machinery.PathFinder.find_spec("yacs", [p for p in sys.path if os.path.abspath(p or ".") != here])
module = importlib.util.module_from_spec(spec)
sys.modules["yacs"] = module
spec.loader.exec_module(module)
"""


@pytest.mark.parametrize("name, code", [("INT", 130), ("TERM", 143), ("HUP", 129)])
def test_a_stop_during_the_first_imports_is_one_line(tmp_path, name, code):
    import os
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    (tmp_path / "shim" / "yacs").mkdir(parents=True)
    (tmp_path / "shim" / "yacs" / "__init__.py").write_text(SIGNALLING_YACS.replace("{name}", name))
    env = dict(os.environ, PYTHONPATH=f"{tmp_path / 'shim'}{os.pathsep}{REPO_ROOT}")
    done = subprocess.run([sys.executable, "train/main.py", "-l", "assets/experiments/quickstart.yaml"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == code, done.stderr[-2000:]
    assert done.stderr.strip() == f"stopped by SIG{name} while starting; no checkpoint was written", done.stderr
