"""Checkpoint files: atomic writes, safe loads, finding the newest one."""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any, List, Optional

import torch

CKPT_PATTERN = re.compile(r"^checkpoint_epoch(\d{4,})(?:_step(\d+))?\.pt$")


def checkpoint_name(epoch: int, stepInEpoch: int = 0) -> str:
    """File name of the checkpoint after ``epoch`` epochs (and ``stepInEpoch`` steps of the next)."""
    suffix = f"_step{stepInEpoch}" if stepInEpoch else ""
    return f"checkpoint_epoch{epoch:04d}{suffix}.pt"


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temp file in the same folder, fsync, then rename over ``path``.

    A crash at any moment leaves either the old file or the new one, never a
    half-written ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        dirFd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dirFd)
        finally:
            os.close(dirFd)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path, map_location: Any = "cpu") -> dict:
    """Load a checkpoint with ``weights_only=True`` (no arbitrary code from pickles).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not a checkpoint of this project.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise ValueError(f"{str(path)!r} is not a readable checkpoint ({type(err).__name__})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "epoch" not in ckpt:
        raise ValueError(f"{str(path)!r} is not a SimCLR training checkpoint (no 'model'/'epoch' entries)")
    return ckpt


def list_checkpoints(folder: Path) -> List[Path]:
    """Checkpoints in ``folder``, oldest epoch first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [((int(m.group(1)), int(m.group(2) or 0)), p) for p in folder.iterdir()
             if (m := CKPT_PATTERN.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(folder: Path) -> Optional[Path]:
    """The checkpoint with the highest epoch in ``folder``, or None."""
    ckpts = list_checkpoints(folder)
    return ckpts[-1] if ckpts else None
