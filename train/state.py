"""A run's state on disk, in three parts (one module today; each part is a group of functions below).

- The run folders: whether a run exists, which checkpoint to resume (``find_resume``), the
  run lock (``RunLock``, ``open_run``), tidying a restarted run, the resolved config copy.
- The random generators: ``capture_rng`` / ``restore_rng`` (Python, NumPy, torch, CUDA).
- The checkpoint state: ``save_state`` and ``restore_state`` (model, optimizer, scheduler,
  scaler, counters, RNG) and ``follow_schedule`` on a resume with more epochs. The evaluation
  CLIs read the same files through ``core.nn.utils.checkpoint.read_checkpoint``.
"""
from __future__ import annotations

import errno
import logging
import os
import random
import socket
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
import yaml

from core.errors import CheckpointError, UserInputError
from core.nn.networks.export import export_encoder
from core.nn.optim import WarmupCosine
from core.nn.utils.checkpoint import (CKPT_FORMAT, RUN_CONFIG, atomic_save, checkpoint_name, latest_checkpoint,
                                      list_checkpoints, load_checkpoint, remove_stale_temporaries)

log = logging.getLogger("simclr")
KEEP_CHECKPOINTS = 3


class RunExistsError(UserInputError):
    """The run folders already hold a run and no resume was asked for."""


class DiskFullError(RuntimeError):
    """No space left while writing a checkpoint; the previous one is intact."""


def run_exists(logDir: Path, saveDir: Path) -> bool:
    """Whether the log or checkpoint folder already holds a run's files."""
    return any(logDir.glob("events.out.tfevents.*")) or bool(list_checkpoints(saveDir))


def find_resume(resume: Optional[str], logDir: Path, saveDir: Path, device) -> Tuple[Optional[Path], Optional[dict]]:
    """``(checkpoint path or None, its dict when already loaded)`` for ``--resume PATH|auto`` or none.

    - ``PATH``: loaded here (a bad file fails before anything is written). It may continue only
      the run it belongs to (a file of this run's checkpoint folder) or start a new, empty run.
    - ``auto``: the newest checkpoint of this run; a run that has none (stopped before its first
      checkpoint) starts again from the beginning.
    - none: the run folders must not hold a run.

    Raises:
        RunExistsError: the run folders hold another run.
        CheckpointError: the given path is not a training checkpoint.
    """
    if resume == "auto":
        return latest_checkpoint(saveDir), None
    if resume:
        path = Path(resume)
        if path.is_dir():
            raise CheckpointError(f"--resume {resume!r} is a directory; give a checkpoint_epochNNNN.pt file or auto")
        ckpt = load_checkpoint(path, map_location=device)
        if run_exists(logDir, saveDir) and path.resolve().parent != saveDir.resolve():
            raise RunExistsError(f"--resume {resume}: run folder {saveDir} holds another run, which this would "
                                 "overwrite; resume into a new general.name, or use --resume auto to continue "
                                 "that run")
        return path, ckpt
    if run_exists(logDir, saveDir):
        raise RunExistsError(f"run folder {logDir} (or {saveDir}) already holds a run; continue it with "
                             "--resume auto, or start a new one with --opts general.name NEW_NAME")
    return None, None


class RunLock:
    """An exclusive lock on a run folder: ``.lock`` made with ``O_EXCL``, holding ``pid host``.

    A second process (started at the same moment, or while the run trains) is refused. A lock
    left by a process of this host that is gone (``kill -9``) is taken over, with a log line.
    """

    def __init__(self, folder: Path):
        self.path = Path(folder) / ".lock"
        self.held = False

    def acquire(self) -> None:
        """Raises ``RunExistsError`` when a live process holds the lock."""
        me = f"{os.getpid()} {socket.gethostname()}"
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self.owner()
                if owner is not None and not self.alive(*owner):
                    log.info("removing the stale lock of process %s on %s (it is not running)", *owner)
                    self.path.unlink(missing_ok=True)
                    continue
                pid, host = owner or ("?", "?")
                raise RunExistsError(f"run folder {self.path.parent} is in use by process {pid} on {host} "
                                     f"(lock file {self.path}); wait for it to finish, or delete the lock if "
                                     "that process is gone") from None
            with os.fdopen(fd, "w") as handle:
                handle.write(me + "\n")
            self.held = True
            return
        raise RunExistsError(f"could not take the lock {self.path}")

    def owner(self) -> Optional[Tuple[int, str]]:
        try:
            pid, host = self.path.read_text().split()
            return int(pid), host
        except (OSError, ValueError):
            return None

    @staticmethod
    def alive(pid: int, host: str) -> bool:
        """Whether the lock's process runs (a lock of another host is assumed alive)."""
        if host != socket.gethostname():
            return True
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


def open_run(logDir: Path, saveDir: Path, fresh: bool) -> RunLock:
    """Create the run folders and take the run's lock; returns the held lock.

    ``fresh`` (a new run): refused when another process filled the folder meanwhile (two launches
    at the same moment). On any failure the folders this call created are removed again.

    Raises:
        ConfigError: a folder cannot be created. RunExistsError: the run is in use or was just filled.
    """
    from train.config import ConfigError

    created = [f for f in (logDir, saveDir) for f in (f, *f.parents) if not f.exists()]
    lock = RunLock(logDir)
    try:
        for folder in (logDir, saveDir):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise ConfigError(f"cannot create {folder} ({err.strerror}); set general.logsDir/"
                                  "general.saveDir to a writable folder") from err
        lock.acquire()
        if fresh and run_exists(logDir, saveDir):
            raise RunExistsError(f"run folder {logDir} was filled by another process that started at the same "
                                 "time; start a new one with --opts general.name NEW_NAME")
    except BaseException:
        lock.release()
        for folder in sorted(created, key=lambda f: len(f.parts), reverse=True):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise
    return lock


def tidy_run(logDir: Path, saveDir: Path, restart: bool) -> List[str]:
    """Remove unfinished checkpoint writes; on a restart move the old logs aside. Returns log lines."""
    notes = []
    if restart:
        aside = move_aside(logDir)
        notes.append(f"--resume auto: {saveDir} has no checkpoint (the run stopped before its first one); "
                     f"starting it again from the beginning{f' (earlier logs moved to {aside})' if aside else ''}")
    stale = remove_stale_temporaries(saveDir)
    if stale:
        notes.append(f"removed {len(stale)} unfinished checkpoint file(s) of an interrupted write: "
                     f"{', '.join(p.name for p in stale)}")
    return notes


def keep_config(logDir: Path, text: str) -> Path:
    """Write the resolved config as ``config.yaml``, or as ``config_resumeN.yaml`` when a run already has one."""
    path = logDir / RUN_CONFIG
    number = 1
    while path.exists():
        path = logDir / f"config_resume{number}.yaml"
        number += 1
    path.write_text(text)
    return path


def move_aside(logDir: Path) -> Optional[Path]:
    """Move the event files and log of a start that never reached a checkpoint into ``attempt_N/``."""
    files = [p for p in logDir.iterdir() if p.is_file() and not p.name.startswith(".")] if logDir.is_dir() else []
    if not files:
        return None
    number = 1
    while (logDir / f"attempt_{number}").exists():
        number += 1
    folder = logDir / f"attempt_{number}"
    folder.mkdir()
    for path in files:
        path.rename(folder / path.name)
    return folder


def capture_rng() -> Dict[str, Any]:
    """Python, numpy, torch and (when present) every CUDA generator's state."""
    npState = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [npState[0], torch.from_numpy(npState[1].copy()), npState[2], npState[3], npState[4]],
        "python": random.getstate(),
    }


def restore_rng(rng: Dict[str, Any]) -> None:
    """Undo ``capture_rng``; CUDA states are restored when this machine has as many devices."""
    if "torch" not in rng:
        return
    torch.set_rng_state(rng["torch"].cpu())
    npState = rng["numpy"]
    np.random.set_state((npState[0], npState[1].numpy(), npState[2], npState[3], npState[4]))
    version, state, gauss = rng["python"]
    random.setstate((version, tuple(state), gauss))
    cuda = rng.get("cuda") or []
    if cuda and torch.cuda.is_available():
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
        else:
            log.warning("checkpoint has %d CUDA generator states, this machine %d devices: CUDA draws not "
                        "restored", len(cuda), torch.cuda.device_count())


def save_state(trainer, saveDir: Path) -> Path:
    """Write the trainer's checkpoint atomically, export its encoder, keep the newest ``KEEP_CHECKPOINTS``.

    Beside the checkpoints: ``encoder.pt`` + ``encoder.json`` and the run's resolved ``config.yaml``,
    so that the folder alone is enough for evaluation.
    """
    from train.config import to_plain

    model = trainer.model
    ckpt = {
        "format": CKPT_FORMAT,
        "epoch": trainer.epoch,
        "stepInEpoch": trainer.stepInEpoch,
        "globalStep": trainer.globalStep,
        "model": model.state_dict(),
        "modelArgs": {"inChNo": model.inChNo, "latentChNo": model.latentChNo, "outChNo": model.outChNo,
                      **model.hparams()},
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.scheduler.state_dict() if trainer.scheduler is not None else None,
        "scaler": trainer.scaler.state_dict(),
        "config": to_plain(trainer.cfg),
        "rng": capture_rng(),
    }
    path = saveDir / checkpoint_name(trainer.epoch, trainer.stepInEpoch)
    previous = list_checkpoints(saveDir)
    try:
        atomic_save(ckpt, path)
        notTorchvision = export_encoder(model.encoder, saveDir)
        if notTorchvision and not getattr(trainer, "_saidNotTorchvision", False):
            trainer._saidNotTorchvision = True
            log.info("no torchvision export: %s; this encoder loads with core.nn.networks.export.load_encoder",
                     notTorchvision)
        (saveDir / RUN_CONFIG).write_text(yaml.safe_dump(ckpt["config"], sort_keys=False))
    except OSError as err:
        if err.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        kept = f"the previous checkpoint {previous[-1].name} is intact" if previous else "no checkpoint was written"
        raise DiskFullError(f"no space left on the device of {saveDir} while writing {path.name}; {kept}; free "
                            "space, then resume with --resume auto") from err
    for old in list_checkpoints(saveDir)[:-KEEP_CHECKPOINTS]:
        old.unlink(missing_ok=True)
    return path


def restore_state(trainer, ckpt: dict, path: Path) -> Tuple[int, int, int]:
    """Load model, optimizer, scheduler, scaler and RNG states into ``trainer``; returns the counters.

    Returns:
        ``(epoch, globalStep, stepInEpoch)``.

    Raises:
        CheckpointError: the checkpoint does not fit this config (model, optimizer, batch size).
    """
    try:
        trainer.model.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint {path} does not match model.kwargs of this config: "
                              f"{str(err).splitlines()[0]}") from err
    saved = ckpt["config"].get("optimizer", {}).get("name")
    if saved is not None and saved != trainer.cfg.optimizer.name:
        raise CheckpointError(f"checkpoint {path} was trained with optimizer.name={saved!r}; this config asks for "
                              f"{trainer.cfg.optimizer.name!r}: resume with the same optimizer")
    try:
        trainer.optimizer.load_state_dict(ckpt["optimizer"])
        if trainer.scheduler is not None and ckpt.get("scheduler") is not None:
            trainer.scheduler.load_state_dict(ckpt["scheduler"])
        if ckpt.get("scaler"):
            trainer.scaler.load_state_dict(ckpt["scaler"])
    except (KeyError, ValueError, TypeError) as err:
        raise CheckpointError(f"checkpoint {path}: its optimizer/scheduler state does not fit this config "
                              f"({type(err).__name__}: {err})") from err
    epoch, globalStep = int(ckpt["epoch"]), int(ckpt["globalStep"])
    stepInEpoch = int(ckpt.get("stepInEpoch", 0))
    if stepInEpoch > trainer.stepsPerEpoch:
        raise CheckpointError(f"checkpoint {path} stopped at step {stepInEpoch} of an epoch, but this config has "
                              f"{trainer.stepsPerEpoch} steps per epoch; resume with the same train.trainBatch "
                              "and data")
    follow_schedule(trainer, ckpt)
    restore_rng(ckpt.get("rng", {}))
    return epoch, globalStep, stepInEpoch


def follow_schedule(trainer, ckpt: dict) -> None:
    """Let the current config's length win after loading a scheduler (resume with more epochs).

    ``WarmupCosine`` is resized; a ``torch.optim.lr_scheduler`` class counts epochs in its own
    ``schedKwargs`` (``T_max``, ``milestones``...), so it does not follow ``train.epochs``: say so.
    """
    scheduler: Optional[Any] = trainer.scheduler
    o = trainer.cfg.optimizer
    if isinstance(scheduler, WarmupCosine):
        scheduler.resize(o.warmupEpochs * trainer.stepsPerEpoch, trainer.epochs * trainer.stepsPerEpoch)
        return
    before = ckpt.get("config", {}).get("train", {}).get("epochs")
    if scheduler is not None and before is not None and before != trainer.epochs:
        log.warning("train.epochs changed from %s to %d: optimizer.scheduler %s counts epochs in "
                    "optimizer.schedKwargs, which did not change; adjust them if the schedule should stretch",
                    before, trainer.epochs, o.scheduler)
