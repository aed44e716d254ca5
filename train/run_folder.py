"""A run's folders and their lifecycle: where they are, whether they hold a run, the lock, tidying a restart.

A run named ``general.name`` writes TensorBoard events and its log into ``<logsDir>/<name>`` and
checkpoints into ``<saveDir>/<name>`` (``run_folders``). Before anything is built the trainer
decides from these folders whether to start, resume or refuse (``find_resume``); once every part
is built it opens them (``open_run``): both folders are locked with ``filelock`` (an OS lock the
kernel drops when the process dies, ``kill -9`` included), symlinks resolved, so two runs never
share a folder.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

from filelock import FileLock, Timeout

from core.errors import CheckpointError, UserInputError
from core.files import atomic_write_text
from core.nn.utils.checkpoint import RUN_CONFIG, latest_checkpoint, list_checkpoints, \
    load_checkpoint, remove_stale_temporaries

LOCK_FILE = ".lock"


class RunExistsError(UserInputError):
    """The run folders already hold a run and no resume was asked for, or another process uses them."""


def run_folders(cfg) -> Tuple[Path, Path]:
    """``(log folder, checkpoint folder)`` of the run ``cfg`` names: ``<logsDir>/<name>``, ``<saveDir>/<name>``."""
    return Path(cfg.general.logsDir) / cfg.general.name, Path(cfg.general.saveDir) / cfg.general.name


def run_exists(logDir: Path, saveDir: Path) -> bool:
    """Whether the log or checkpoint folder already holds a run's files."""
    return any(logDir.glob("events.out.tfevents.*")) or bool(list_checkpoints(saveDir))


def same_folder(a: Path, b: Path) -> bool:
    """Whether two paths name one folder once symlinks and ``..`` are resolved."""
    return Path(a).resolve() == Path(b).resolve()


def find_resume(resume: Optional[str], logDir: Path, saveDir: Path) -> Tuple[Optional[Path], Optional[dict]]:
    """``(checkpoint path or None, its dict)`` for ``--resume PATH|auto`` or none; reads no data, writes nothing.

    The checkpoint is read to the CPU whatever device saved it (``load_state_dict`` copies each
    tensor to the model's device), so a run saved on a GPU resumes on the CPU and the reverse.

    - ``PATH``: it may continue only the run it belongs to (a file of this run's checkpoint folder)
      or start a new, empty run.
    - ``auto``: the newest checkpoint of this run; a run that has none (stopped before its first
      checkpoint) starts again from the beginning.
    - none: the run folders must not hold a run.

    Raises:
        RunExistsError: the run folders hold another run.
        CheckpointError: the given path is not a training checkpoint.
    """
    if resume == "auto":
        path = latest_checkpoint(saveDir)
        return path, (load_checkpoint(path) if path is not None else None)
    if resume:
        path = Path(resume)
        if path.is_dir():
            raise CheckpointError(f"--resume {resume!r} is a directory; give a checkpoint_epochNNNN.pt file or auto")
        ckpt = load_checkpoint(path)
        if run_exists(logDir, saveDir) and not same_folder(path.parent, saveDir):
            raise RunExistsError(f"--resume {resume}: run folder {saveDir} holds another run, which this would "
                                 "overwrite; resume into a new general.name, or use --resume auto to continue "
                                 "that run")
        return path, ckpt
    if run_exists(logDir, saveDir):
        raise RunExistsError(f"run folder {logDir} (or {saveDir}) already holds a run; continue it with "
                             "--resume auto, or start a new one with --opts general.name NEW_NAME")
    return None, None


class RunLock:
    """Exclusive OS locks on a run's log and checkpoint folders (one ``.lock`` file in each real folder).

    Args:
        folders: the run's folders; two that are the same folder (a symlink) get one lock.
    """

    def __init__(self, *folders: Path):
        real = list(dict.fromkeys(Path(f).resolve() for f in folders))
        self.locks = [FileLock(str(folder / LOCK_FILE), timeout=0) for folder in real]
        self.folders = real
        self.taken: List[Path] = []     # the folders whose lock the last acquire() took (its lock files are ours)

    def acquire(self) -> None:
        """Take every lock, or none.

        Raises:
            RunExistsError: another process holds one (names the folder).
        """
        self.taken = []
        for lock, folder in zip(self.locks, self.folders):
            try:
                lock.acquire()
                self.taken.append(folder)
            except Timeout:
                self.release()
                raise RunExistsError(f"run folder {folder} is in use by another process (it holds "
                                     f"{folder / LOCK_FILE}); wait for that run to finish, or use another "
                                     "general.name") from None

    def release(self) -> None:
        for lock in self.locks:
            if lock.is_locked:
                lock.release(force=True)


def open_run(logDir: Path, saveDir: Path, fresh: bool) -> RunLock:
    """Create the run folders and lock both; returns the held lock.

    ``fresh`` (a new run): refused when another process filled the folders meanwhile (two launches
    at the same moment). On a failure the folders this call created are removed again when nothing but
    its own lock file is in them (another launch's lock file or files keep them).

    Raises:
        ConfigError: a folder cannot be created. RunExistsError: the run is in use or was just filled.
    """
    from train.config import ConfigError

    created = [f for f in (logDir, saveDir) for f in (f, *f.parents) if not f.exists()]
    lock = None
    try:
        for folder in (logDir, saveDir):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise ConfigError(f"cannot create {folder} ({err.strerror}); set general.logsDir/"
                                  "general.saveDir to a writable folder") from err
        lock = RunLock(logDir, saveDir)     # built once the folders exist: their real paths are known
        lock.acquire()
        if fresh and run_exists(logDir, saveDir):
            raise RunExistsError(f"run folder {logDir} was filled by another process that started at the same "
                                 "time; start a new one with --opts general.name NEW_NAME")
    except BaseException:
        ours = set(lock.taken) if lock is not None else set()
        if lock is not None:
            lock.release()
        # Only this call's traces go: a lock file whose lock it took, then folders left empty. Two launches at
        # once both "create" the folders; the winner's lock file stays in them, so they stay too.
        for folder in sorted(created, key=lambda f: len(f.parts), reverse=True):
            if folder.is_dir():
                if folder.resolve() in ours:
                    (folder / LOCK_FILE).unlink(missing_ok=True)
                if not any(folder.iterdir()):
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
    atomic_write_text(text, path)
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
