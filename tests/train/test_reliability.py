"""Reliability: exact resume, crash safety, Ctrl-C, clear errors for bad input, safe loading."""
import os
import pickle
import re
import signal
import subprocess
import sys
import time

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from core.nn.utils.checkpoint import atomic_save, list_checkpoints, load_checkpoint
from tests.conftest import REPO_ROOT, TIMEOUT, too_slow

pytestmark = pytest.mark.pipeline

# general.threads fixed: bit-identical resumes need the same thread count (the default follows the machine's load).
TINY = ["general.device", "cpu", "general.threads", "1", "model.kwargs.baseChNo", "4", "model.latentChNo", "32",
        "model.outChNo", "16",
        "model.kwargs.mlpLayers", "[32]", "data.imgSize", "16", "data.numWorkers", "0", "train.trainBatch", "128",
        "log.evalEpoch", "0", "log.saveEpoch", "1", "log.tsneSamples", "0", "log.embeddingSamples", "0",
        "log.imagePairs", "2", "optimizer.warmupEpochs", "1", "train.epochs", "3"]


def train_args(tmp_path, name, *extra, resume=None):
    args = [sys.executable, "train/main.py", "-l", "assets/experiments/quickstart.yaml"]
    if resume:
        args += ["--resume", resume]
    return args + ["--opts", *TINY, "general.name", name, "general.logsDir", str(tmp_path / "logs"),
                   "general.saveDir", str(tmp_path / "ckpt"), *extra]


def reset_stop_signals():
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def own_group():
    """A job of its own, as a cluster's or ``timeout``'s: a signal to its process group reaches its workers too."""
    reset_stop_signals()
    os.setpgid(0, 0)


def popen(args, group=False):
    """A training subprocess that answers Ctrl-C, SIGTERM and SIGHUP as one started from a terminal does, even
    when this suite runs in the background (a shell starts a background job with SIGINT ignored, ``nohup``
    with SIGHUP ignored, and the child inherits that: the trainer then keeps them ignored).

    ``group``: in a process group of its own (``os.killpg(proc.pid, sig)`` signals it and its workers)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, stdin=subprocess.DEVNULL,
                            preexec_fn=own_group if group else reset_stop_signals)


def run(args):
    proc = popen(args)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired as timeout:
        proc.kill()
        too_slow(timeout)
    return proc.returncode, out, err


def trained_run(tmpPathFactory, name, *extra):
    """A finished run ``name`` (the TINY model) in a new temporary folder, which is returned."""
    tmp = tmpPathFactory.mktemp(name)
    code, out, err = run(train_args(tmp, name, *extra))
    assert code == 0, err
    return tmp


def final_state(tmp_path, name):
    return load_checkpoint(list_checkpoints(tmp_path / "ckpt" / name)[-1])


def losses(tmp_path, name):
    acc = EventAccumulator(str(tmp_path / "logs" / name), size_guidance={"scalars": 0})
    acc.Reload()
    return {e.step: e.value for e in acc.Scalars("train/loss")}


BATCHED = ["data.augDevice", "cuda"]   # batched augmentation; on this CPU-only run it runs on the CPU


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """An uninterrupted 3-epoch run, the reference for the resume tests."""
    tmp = tmp_path_factory.mktemp("straight")
    code, out, err = run(train_args(tmp, "ref"))
    assert code == 0, err
    return tmp


def assert_same_run(reference, tmp_path, name):
    ref, got = final_state(reference, "ref"), final_state(tmp_path, name)
    assert ref["epoch"] == got["epoch"] == 3 and ref["globalStep"] == got["globalStep"]
    for key, value in ref["model"].items():
        assert torch.equal(value, got["model"][key]), key
    refLoss, gotLoss = losses(reference, "ref"), losses(tmp_path, name)
    assert set(refLoss) == set(gotLoss) and all(refLoss[s] == gotLoss[s] for s in refLoss)


def kill_after_first_checkpoint_then_resume(tmp_path, name, *extra):
    proc = popen(train_args(tmp_path, name, *extra))
    first = tmp_path / "ckpt" / name / "checkpoint_epoch0001.pt"
    deadline = time.time() + 300
    while not first.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert first.exists() and not (tmp_path / "ckpt" / name / "checkpoint_epoch0003.pt").exists()
    code, out, err = run(train_args(tmp_path, name, *extra, resume="auto"))
    assert code == 0, err
    assert "resumed from" in out


@pytest.mark.slow
def test_sigkill_after_a_checkpoint_then_resume_is_exact(straight, tmp_path):
    kill_after_first_checkpoint_then_resume(tmp_path, "killed")
    assert_same_run(straight, tmp_path, "killed")


@pytest.mark.slow
def test_batched_augmentation_resumes_exactly_too(tmp_path):
    reference = tmp_path / "reference"
    code, out, err = run(train_args(reference, "ref", *BATCHED))
    assert code == 0, err
    assert "data.augDevice=cuda but this run is on cpu" in out + err
    assert re.search(r"data.keepOnDevice=auto: \d+ training images .* kept on cpu", out), out   # no per-image stage
    kill_after_first_checkpoint_then_resume(tmp_path, "killed", *BATCHED)
    assert_same_run(reference, tmp_path, "killed")


@pytest.mark.slow
def test_ctrl_c_saves_prints_the_resume_command_and_resumes_exactly(straight, tmp_path):
    proc = popen(train_args(tmp_path, "interrupted", "log.saveEpoch", "0"))
    for line in proc.stdout:
        if line.startswith("epoch 1/3"):
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 130, err
    assert "Resume with:" in err and "--resume auto" in err and "general.name interrupted" in err
    saved = list_checkpoints(tmp_path / "ckpt" / "interrupted")
    assert len(saved) == 1 and re.match(r"checkpoint_epoch000[12](_step\d+)?\.pt", saved[0].name)
    code, out, err = run(train_args(tmp_path, "interrupted", "log.saveEpoch", "0", resume="auto"))
    assert code == 0, err
    step, perEpoch = re.search(r"_step(\d+)", saved[0].name), re.search(r"(\d+) steps/epoch", out)
    if step and int(step[1]) < int(perEpoch[1]):   # the epoch's means cover the steps this launch ran: said
        assert f"(steps {int(step[1]) + 1}-" in out and "resumed mid-epoch)" in out
    assert_same_run(straight, tmp_path, "interrupted")


WORKERS = ["data.numWorkers", "2"]


@pytest.fixture(scope="module")
def straight_with_workers(tmp_path_factory):
    """An uninterrupted 3-epoch run with 2 DataLoader workers."""
    tmp = tmp_path_factory.mktemp("straight_workers")
    code, out, err = run(train_args(tmp, "ref", *WORKERS))
    assert code == 0, err
    return tmp


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_to_the_whole_job_saves_at_the_step_and_resumes_exactly(straight_with_workers, tmp_path, sig):
    """SLURM, Kubernetes and ``timeout`` signal every process of the job, the DataLoader workers too."""
    proc = popen(train_args(tmp_path, "job", *WORKERS, "log.saveEpoch", "0"), group=True)
    for line in proc.stdout:
        if line.startswith("epoch 1/3"):
            break
    os.killpg(proc.pid, sig)
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 128 + sig, err
    assert f"{signal.Signals(sig).name}: interrupted; checkpoint saved in" in err and "--resume auto" in err
    assert "Traceback" not in err and "killed by signal" not in err
    assert len(err.strip().splitlines()) == 2, err
    saved = list_checkpoints(tmp_path / "ckpt" / "job")
    assert len(saved) == 1 and re.match(r"checkpoint_epoch000[12](_step\d+)?\.pt", saved[0].name)
    code, out, err = run(train_args(tmp_path, "job", *WORKERS, "log.saveEpoch", "0", resume="auto"))
    assert code == 0, err
    assert_same_run(straight_with_workers, tmp_path, "job")


def alive(pid):
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_never_outlive_the_run_whatever_ends_it(tmp_path):
    """The main process SIGKILLed (as the OOM killer ends a run) while its workers are busy: they end at once."""
    script = (
        "import os, signal, sys, time, torch\n"
        "from train.builders import make_loader\n"
        "class Slow(torch.utils.data.Dataset):\n"
        "    def __len__(self): return 64\n"
        "    def __getitem__(self, i): time.sleep(60); return i\n"
        "it = iter(make_loader(Slow(), 4, 2, torch.device('cpu')))\n"
        "time.sleep(1.5)\n"
        "print(' '.join(str(w.pid) for w in it._workers), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    workers = [int(pid) for pid in proc.stdout.split()]
    assert len(workers) == 2
    deadline = time.time() + 3        # busy workers would sleep on for a minute without end_with_the_parent
    while any(alive(pid) for pid in workers) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers), [pid for pid in workers if alive(pid)]


def test_a_kill_during_saving_never_leaves_a_broken_checkpoint(tmp_path):
    target = tmp_path / "checkpoint_epoch0001.pt"
    atomic_save({"model": {"w": torch.zeros(1000, 1000)}, "epoch": 0}, target)
    script = (
        "import sys, torch\n"
        "from core.nn.utils.checkpoint import atomic_save\n"
        "for i in range(1, 10000):\n"
        "    atomic_save({'model': {'w': torch.full((1000, 1000), float(i))}, 'epoch': i}, sys.argv[1])\n")
    for delay in (0.3, 0.7, 1.1):
        proc = subprocess.Popen([sys.executable, "-c", script, str(target)], cwd=REPO_ROOT)
        time.sleep(delay)
        proc.kill()
        proc.wait()
        ckpt = torch.load(target, weights_only=True)
        assert torch.all(ckpt["model"]["w"] == ckpt["epoch"])  # whole, never half-written


def test_nan_loss_stops_with_advice_and_keeps_the_last_checkpoint(tmp_path, monkeypatch, capsys):
    from core.nn.loss.nt_xent import NTXent
    from train import main as train_main

    calls = {"n": 0}
    original = NTXent.forward

    def failing(self, zA, zB):
        calls["n"] += 1
        loss = original(self, zA, zB)
        if calls["n"] > 15:  # epoch 2 (11 steps per epoch)
            loss = loss * float("nan")
        return loss

    monkeypatch.setattr(NTXent, "forward", failing)
    code = train_main.main(train_args(tmp_path, "nan")[2:])
    err = capsys.readouterr().err
    assert code == 1
    assert "the loss is nan at epoch 2, step 16" in err and "lower optimizer.lr" in err
    assert "loss.temperature" in err
    saved = list_checkpoints(tmp_path / "ckpt" / "nan")
    assert [p.name for p in saved] == ["checkpoint_epoch0001.pt"]
    assert load_checkpoint(saved[0])["epoch"] == 1


def test_malformed_yaml_and_missing_resume_path(tmp_path, tool):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  epochs: 3\n  trainBatch: [1,\n")
    result = tool("train/main.py", "-l", str(bad))
    assert result.returncode == 2
    assert re.match(rf"error: {re.escape(str(bad))}: line \d+, column \d+ malformed YAML", result.stderr)
    result = tool(*train_args(tmp_path, "r", resume=str(tmp_path / "missing.pt"))[1:])
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_missing_cuda_device_warns_and_runs_on_cpu(tmp_path, tool):
    result = tool(*train_args(tmp_path, "gpu", "general.device", "cuda:3", "train.epochs", "1")[1:])
    out, err = result.stdout, result.stderr
    assert result.returncode == 0, err
    assert "general.device=cuda:3 requested but" in out + err and "running on the CPU" in out + err
    assert "device cpu" in out


def test_checkpoints_refuse_pickled_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    path = tmp_path / "evil.pt"
    with path.open("wb") as handle:
        pickle.dump({"model": Evil(), "epoch": 1}, handle)
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(path)
    assert not (tmp_path / "pwned").exists()
