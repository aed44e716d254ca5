"""Runs that never lose or overwrite a run, survive preemption, and refuse bad input before writing.

In-process runs of ``train.main.main`` with a tiny model (about 5 s each); the
signal test runs a subprocess like the Ctrl-C test of ``test_reliability.py``.
"""
import errno
import re
import signal
import sys
import time

import pytest
import torch

from core.nn.utils.checkpoint import atomic_save, list_checkpoints, load_checkpoint
from tests.conftest import TIMEOUT
from tests.train.test_reliability import popen, run, train_args, trained_run

pytestmark = pytest.mark.pipeline


@pytest.fixture
def main(capsys, caplog):
    """``main(tmp_path, name, *opts, resume=...) -> (exit code, log text, stderr)`` of an in-process run."""
    from train import main as train_main

    def launch(tmp_path, name, *extra, resume=None):
        caplog.clear()
        with caplog.at_level("INFO", logger="simclr"):
            code = train_main.main(train_args(tmp_path, name, *extra, resume=resume)[2:])
        return code, caplog.text, capsys.readouterr().err
    return launch


def snapshot(tmp_path, name):
    """Every file of a run with its size and modification time."""
    files = {}
    for root in (tmp_path / "logs" / name, tmp_path / "ckpt" / name):
        for path in sorted(root.rglob("*")) if root.exists() else []:
            if path.is_file():
                files[str(path)] = (path.stat().st_size, path.stat().st_mtime_ns)
    return files


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 1-epoch run 'a' (and its files), shared by the refusal tests."""
    return trained_run(tmp_path_factory, "a", "train.epochs", "1")


def test_resume_path_into_another_run_is_refused(finished, tmp_path, main):
    tmp = finished
    code, _, err = main(tmp, "b", "train.epochs", "2")          # run b exists too
    assert code == 0, err
    before = snapshot(tmp, "b")
    foreign = tmp / "ckpt" / "a" / "checkpoint_epoch0001.pt"
    code, _, err = main(tmp, "b", "train.epochs", "3", resume=str(foreign))
    assert code == 2 and "holds another run, which this would overwrite" in err and len(err.splitlines()) == 1
    assert snapshot(tmp, "b") == before                                        # nothing written


def test_resume_path_starts_a_new_empty_run_and_keeps_configs(finished, tmp_path, main):
    foreign = finished / "ckpt" / "a" / "checkpoint_epoch0001.pt"
    code, out, err = main(tmp_path, "fresh", "train.epochs", "2", resume=str(foreign))
    assert code == 0, err
    assert [p.name for p in list_checkpoints(tmp_path / "ckpt" / "fresh")] == ["checkpoint_epoch0002.pt"]
    code, _, err = main(tmp_path, "fresh", "train.epochs", "3", resume="auto")
    assert code == 0, err
    logs = tmp_path / "logs" / "fresh"
    assert (logs / "config.yaml").is_file() and (logs / "config_resume1.yaml").is_file()
    assert "epochs: 2" in (logs / "config.yaml").read_text()
    assert "epochs: 3" in (logs / "config_resume1.yaml").read_text()


def test_a_finished_run_says_so_and_writes_nothing(finished, main):
    before = snapshot(finished, "a")
    code, out, err = main(finished, "a", "train.epochs", "1", resume="auto")
    assert code == 0
    assert "run a is complete at epoch 1 (train.epochs 1); nothing was written" in err
    assert "--resume auto" in err and "train.epochs 2" in err
    assert snapshot(finished, "a") == before


def test_the_hint_to_train_longer_counts_from_the_checkpoints_epoch(tmp_path, main):
    code, _, err = main(tmp_path, "two", "train.epochs", "2")
    assert code == 0, err
    code, out, err = main(tmp_path, "two", "train.epochs", "1", resume="auto")     # fewer epochs than it has
    assert code == 0 and "run two is complete at epoch 2 (train.epochs 1)" in err
    hint = int(re.search(r"train\.epochs (\d+)\s*$", err).group(1))
    assert hint > 2                                             # not 2 x train.epochs = 2, "complete" again
    code, out, err = main(tmp_path, "two", "train.epochs", str(hint), resume="auto")
    assert code == 0 and f"epoch {hint}/{hint}" in out, err


def test_a_run_that_cannot_start_is_refused_before_any_download(finished, tmp_path, main, monkeypatch):
    import torchvision.datasets as tvd

    def download(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(tvd.CIFAR10, "download", download)
    code, _, err = main(finished, "a", "data.dataset", "CIFAR10", "data.imgSize", "32", "data.rootPath",
                        str(tmp_path / "nodata"))
    assert code == 2 and "already holds a run" in err, err
    assert not (tmp_path / "nodata").exists()


@pytest.mark.parametrize("scheduler, says", [({"foo": 1}, "not WarmupCosine's (missing ["),
                                             ("last_epoch", "the scheduler's last_epoch is 'x', not a step count")])
def test_a_foreign_scheduler_state_is_refused(finished, tmp_path, main, scheduler, says):
    ckpt = load_checkpoint(list_checkpoints(finished / "ckpt" / "a")[-1])
    if scheduler == "last_epoch":
        ckpt["scheduler"]["last_epoch"] = "x"
    else:
        ckpt["scheduler"] = scheduler
    edited = tmp_path / "edited.pt"
    atomic_save(ckpt, edited)
    code, _, err = main(tmp_path, "edited", "train.epochs", "2", resume=str(edited))
    assert code == 2 and says in err and len(err.splitlines()) == 1, err


def test_a_rejected_resume_writes_nothing(finished, main):
    before = snapshot(finished, "a")
    code, _, err = main(finished, "a", "train.epochs", "2", "model.kwargs.baseChNo", "8", resume="auto")
    assert code == 2 and "does not match the model of this config: 6 tensors of this model are not in the " \
        "checkpoint (first: ['encoder.head.0.weight'])" in err and len(err.splitlines()) == 1
    code, _, err = main(finished, "a", "train.epochs", "2", "model.outChNo", "8", resume="auto")
    assert code == 2 and re.search(r"does not match the model of this config: \S+ is \[16(, 32)?\] in the checkpoint "
                                   r"and \[8(, 32)?\] here \(another width\)", err), err
    code, _, err = main(finished, "a", "train.epochs", "2", "train.trainBatch", "64", resume="auto")
    assert code == 2 and "was trained with train.trainBatch=128; this run continues it with 64" in err
    code, _, err = main(finished, "a", "train.epochs", "2", "optimizer.name", "SGD", resume="auto")
    assert code == 2 and "was trained with optimizer.name='Adam'; this config asks for 'SGD'" in err
    assert snapshot(finished, "a") == before


def test_stop_after_the_last_step_of_an_epoch_resumes_as_its_end(finished, tmp_path, main):
    ckpt = load_checkpoint(finished / "ckpt" / "a" / "checkpoint_epoch0001.pt")
    steps = ckpt["globalStep"]
    ckpt.update(epoch=0, stepInEpoch=steps)                # what a Ctrl-C in the last step of epoch 1 writes
    saved = tmp_path / "ckpt" / "last" / f"checkpoint_epoch0000_step{steps}.pt"
    atomic_save(ckpt, saved)
    code, out, err = main(tmp_path, "last", "train.epochs", "2", resume="auto")
    assert code == 0, err
    assert "resumed from" in out and "at epoch 1 (step" in out
    assert load_checkpoint(list_checkpoints(tmp_path / "ckpt" / "last")[-1])["epoch"] == 2


def test_resume_auto_before_the_first_checkpoint_starts_again(tmp_path, main):
    logs = tmp_path / "logs" / "early"
    logs.mkdir(parents=True)
    (logs / "events.out.tfevents.1.host").write_bytes(b"from a run killed before its first checkpoint")
    (logs / "train.log").write_text("old log\n")
    (tmp_path / "ckpt" / "early").mkdir(parents=True)
    (tmp_path / "ckpt" / "early" / ".checkpoint_epoch0001.pt.x1y2.tmp").write_bytes(b"half a write")
    code, out, err = main(tmp_path, "early", "train.epochs", "1", resume="auto")
    assert code == 0, err
    assert "has no checkpoint (the run stopped before its first one); starting it again" in out
    assert (logs / "attempt_1" / "events.out.tfevents.1.host").is_file()     # kept, moved aside
    assert "removed 1 unfinished checkpoint file" in (logs / "train.log").read_text()
    assert not list((tmp_path / "ckpt" / "early").glob(".*.tmp"))
    assert [p.name for p in list_checkpoints(tmp_path / "ckpt" / "early")] == ["checkpoint_epoch0001.pt"]


def test_a_folder_in_use_is_refused_and_a_left_lock_file_is_harmless(tmp_path, main):
    """The lock covers the log AND the checkpoint folder, symlinks resolved; the OS drops it with its process."""
    from filelock import FileLock

    (tmp_path / "ckpt" / "shared").mkdir(parents=True)
    held = FileLock(str(tmp_path / "ckpt" / "shared" / ".lock"), timeout=0)
    held.acquire()                       # a live run of another logsDir writes its checkpoints here
    try:
        code, _, err = main(tmp_path, "shared", "train.epochs", "1")
        assert code == 2 and len(err.splitlines()) == 1
        assert f"run folder {(tmp_path / 'ckpt' / 'shared').resolve()} is in use by another process" in err
        (tmp_path / "ckpt" / "link").symlink_to(tmp_path / "ckpt" / "shared")   # the same folder by another name
        code, _, err = main(tmp_path, "link", "train.epochs", "1", resume="auto")
        assert code == 2 and "is in use by another process" in err
        assert not (tmp_path / "logs" / "shared").exists() and not (tmp_path / "logs" / "link").exists()
    finally:
        held.release()
    code, _, err = main(tmp_path, "shared", "train.epochs", "1")      # the .lock file left behind: no matter
    assert code == 0, err
    assert list_checkpoints(tmp_path / "ckpt" / "shared")


def test_files_get_one_mode(finished):
    saveDir = finished / "ckpt" / "a"
    mode = (finished / "logs" / "a" / "config.yaml").stat().st_mode & 0o777
    assert {(p.name, p.stat().st_mode & 0o777) for p in (saveDir / "encoder.pt", *list_checkpoints(saveDir))} == \
        {(p.name, mode) for p in (saveDir / "encoder.pt", *list_checkpoints(saveDir))}


def test_resume_from_a_directory_is_named(tmp_path, main):
    code, _, err = main(tmp_path, "d", resume=str(tmp_path))
    assert code == 2 and "is a directory" in err


def test_ctrl_c_while_starting_exits_130_quietly(tmp_path, monkeypatch, main):
    from train import trainer

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer.SimCLRTrainer, "__init__", interrupted)
    code, _, err = main(tmp_path, "s")
    assert code == 130 and err.strip() == "stopped by SIGINT while starting; no checkpoint was written"


@pytest.fixture
def answering():
    """Set the stop signals to their defaults for one test (a background run of the suite ignores some)."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    for sig in saved:
        signal.signal(sig, signal.SIG_DFL if sig != signal.SIGINT else signal.default_int_handler)
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_while_torch_loads_is_held_until_the_import_ends(tmp_path, monkeypatch, answering, sig):
    """An exception from a handler inside torch's C++ import callbacks would abort the process: none is raised."""
    from train.main import import_holding_signals

    def module(name):
        (tmp_path / f"{name}.py").write_text(f"import os\nos.kill(os.getpid(), {int(sig)})\nFINISHED = True\n")
        return name

    monkeypatch.syspath_prepend(str(tmp_path))
    before = signal.getsignal(sig)
    name = module(f"signals_itself_{int(sig)}")
    assert import_holding_signals((name,)) == sig
    assert sys.modules[name].FINISHED and signal.getsignal(sig) is before      # imported whole; handler restored
    assert import_holding_signals((name,)) is None                             # nothing came
    signal.signal(sig, signal.SIG_IGN)                                         # nohup, a background job
    ignored = module(f"signals_itself_ignored_{int(sig)}")
    assert import_holding_signals((ignored,)) is None and sys.modules[ignored].FINISHED
    assert signal.getsignal(sig) is signal.SIG_IGN                             # it stays ignored


def test_an_ignored_signal_stays_ignored_while_training(answering):
    from train.stops import stop_signals

    assert stop_signals() == (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)                               # nohup python train/main.py ...
    assert stop_signals() == (signal.SIGINT, signal.SIGTERM)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_signal_while_importing_is_one_line_and_128_plus_the_signal(tmp_path, sig, code):
    proc = popen(train_args(tmp_path, "early"))
    time.sleep(0.8)                                     # torch is being imported: before the trainer exists
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode in (code, -sig), err         # -sig: killed before Python installed any handler
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 1, err
    assert not (tmp_path / "ckpt").exists()


def test_disk_full_from_the_file_system_is_one_line(tmp_path):
    """A real write error (a file-size limit stands in for a full disk): torch.save's RuntimeError, one line."""
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (60000, 60000))\n"
        "sys.argv = sys.argv[1:]\n"
        "from train.main import main\n"
        "raise SystemExit(main(sys.argv[1:]))\n")
    args = train_args(tmp_path, "fsize", "train.epochs", "1")
    code, out, err = run([args[0], "-c", script, *args[1:]])
    assert code == 1, err
    assert "no space left on the device of" in err and "no checkpoint was written" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_disk_full_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch, main):
    import core.nn.utils.checkpoint as checkpoint

    original, calls = checkpoint.torch.save, {"n": 0}

    def full(obj, handle, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 2:                         # epoch 1: checkpoint + encoder; then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(obj, handle, *args, **kwargs)

    monkeypatch.setattr(checkpoint.torch, "save", full)
    code, _, err = main(tmp_path, "full", "train.epochs", "2")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "no space left on the device of" in err
    assert "the previous checkpoint checkpoint_epoch0001.pt is intact" in err
    saved = list_checkpoints(tmp_path / "ckpt" / "full")
    assert [p.name for p in saved] == ["checkpoint_epoch0001.pt"] and load_checkpoint(saved[0])["epoch"] == 1


def test_disk_full_while_logging_is_one_message(tmp_path, monkeypatch, main):
    from tensorboard.summary.writer import record_writer

    original, calls = record_writer.RecordWriter.write, {"n": 0}

    def full(self, data):
        calls["n"] += 1
        if calls["n"] > 20:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, data)

    monkeypatch.setattr(record_writer.RecordWriter, "write", full)
    code, _, err = main(tmp_path, "logfull", "train.epochs", "2")
    assert code == 1 and "no space left on the device while writing the logs" in err, err
    assert len(err.strip().splitlines()) <= 3 and "Traceback" not in err


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_save_like_ctrl_c(tmp_path, sig, code, main):
    proc = popen(train_args(tmp_path, "preempted", "log.saveEpoch", "0"))
    for line in proc.stdout:
        if line.startswith("epoch 1/3"):
            break
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == code, err
    assert f"{signal.Signals(sig).name}: interrupted; checkpoint saved in" in err and "--resume auto" in err
    assert len(list_checkpoints(tmp_path / "ckpt" / "preempted")) == 1
    again, out, err = main(tmp_path, "preempted", "log.saveEpoch", "0", resume="auto")     # in-process
    assert again == 0, err
    assert load_checkpoint(list_checkpoints(tmp_path / "ckpt" / "preempted")[-1])["epoch"] == 3
    assert torch.is_tensor(load_checkpoint(list_checkpoints(tmp_path / "ckpt" / "preempted")[-1])["model"][
        "encoder.stem.0.weight"])


@pytest.mark.slow
def test_two_launches_of_one_run_at_once_never_share_its_folder(tmp_path):
    for attempt in range(2):
        procs = [popen(train_args(tmp_path, f"race{attempt}", "train.epochs", "1")) for _ in range(2)]
        results = [(p.wait(timeout=TIMEOUT), *p.communicate()) for p in procs]
        codes = sorted(code for code, _, _ in results)
        assert codes == [0, 2], [err[-500:] for _, _, err in results]
        refusal = next(err for code, _, err in results if code == 2)
        assert "is in use by another process" in refusal or "was filled by another process" in refusal \
            or "already holds a run" in refusal, refusal
        assert len(list((tmp_path / "logs" / f"race{attempt}").glob("events.out.tfevents.*"))) == 1


def test_a_refused_launch_never_removes_the_folders_of_the_launch_that_won(tmp_path, monkeypatch):
    """Two launches at once: both find the folders missing and create them; the one that loses the lock
    must leave them (and the winner's lock file) alone, or the winner's checkpoints have nowhere to go."""
    from train.run_folder import LOCK_FILE, RunExistsError, RunLock, open_run

    logDir, saveDir = tmp_path / "logs" / "race", tmp_path / "ckpt" / "race"
    original, winner = RunLock.acquire, []

    def the_other_launch_first(self):
        if not winner:            # between this launch's mkdir and its lock, the other launch takes the lock
            winner.append(RunLock(logDir, saveDir))
            original(winner[0])
        original(self)

    monkeypatch.setattr(RunLock, "acquire", the_other_launch_first)
    with pytest.raises(RunExistsError, match="in use by another process"):
        open_run(logDir, saveDir, fresh=True)
    assert (logDir / LOCK_FILE).is_file() and (saveDir / LOCK_FILE).is_file()
    winner[0].release()
