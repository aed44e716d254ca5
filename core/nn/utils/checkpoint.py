"""Checkpoint files: writing them (``atomic_save``), the readers (``read_weights``, the project's one
``torch.load``, and ``read_checkpoint`` on top of it), finding the newest one.

Two kinds of file are read here, by ``read_checkpoint``:

- a training checkpoint ``checkpoint_epochNNNN[_stepS].pt``: one dict with
  ``format`` (``CKPT_FORMAT``), the counters, ``model``, ``modelArgs`` (what
  ``SimCLR(**modelArgs)`` needs), optimizer/scheduler/scaler state, ``config``
  (the resolved config as a plain dict) and ``rng``;
- an exported encoder: ``encoder.pt`` (a ResNet state dict) with ``encoder.json``
  (its constructor arguments) beside it, and the run's ``config.yaml`` when the
  trainer wrote it; given as the folder or as the ``encoder.pt`` path.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import torch
import yaml

from core.errors import CheckpointError
from core.files import atomic_write

CKPT_PATTERN = re.compile(r"^checkpoint_epoch(\d{4,})(?:_step(\d+))?\.pt$")
CKPT_FORMAT = "simclr-tutorial/1"
ENCODER_WEIGHTS = "encoder.pt"
ENCODER_CONFIG = "encoder.json"
RUN_CONFIG = "config.yaml"
TRAINING_FIELDS = {"epoch": int, "globalStep": int, "stepInEpoch": int, "model": dict, "modelArgs": dict,
                   "config": dict, "optimizer": dict, "scheduler": (dict, type(None)), "scaler": (dict, type(None))}
COUNTERS = ("epoch", "globalStep", "stepInEpoch")


def checkpoint_name(epoch: int, stepInEpoch: int = 0) -> str:
    """File name of the checkpoint after ``epoch`` epochs (and ``stepInEpoch`` steps of the next)."""
    suffix = f"_step{stepInEpoch}" if stepInEpoch else ""
    return f"checkpoint_epoch{epoch:04d}{suffix}.pt"


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temp file in the same folder, fsync, then rename over ``path``.

    A crash at any moment leaves either the old file or the new one, never a
    half-written ``path``.
    """
    atomic_write(path, lambda handle: torch.save(obj, handle))


# The temp files atomic_write leaves when killed: ".<a file this project writes>.<mkstemp's random part>.tmp".
OWN_TEMPORARY = re.compile(r"^\.(checkpoint_epoch-?\d+[\w-]*\.pt|encoder\.pt|encoder\.json|encoder_torchvision\.pt|"
                           r"config\w*\.yaml)\.[a-z0-9_]+\.tmp$")


def remove_stale_temporaries(folder: Path) -> List[Path]:
    """Delete the hidden temp files that a killed ``atomic_save`` left in ``folder`` (only this project's)."""
    folder = Path(folder)
    stale = sorted(p for p in folder.glob(".*.tmp") if OWN_TEMPORARY.match(p.name)) if folder.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def read_weights(path: Union[str, Path], map_location: Any = "cpu") -> Any:
    """The one ``torch.load`` of this project: a file of tensors and plain containers, never pickled code.

    Raises:
        CheckpointError: missing, empty, truncated, or not such a file (names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise CheckpointError(f"{str(path)!r} is not a readable checkpoint ({type(err).__name__})") from err


def load_checkpoint(path: Union[str, Path], map_location: Any = "cpu") -> dict:
    """A training checkpoint's dict (``read_checkpoint(path).state``), checked; see ``read_checkpoint``."""
    checkpoint = read_checkpoint(path, map_location)
    if checkpoint.kind != "training":
        raise CheckpointError(f"{str(path)!r} is an exported encoder, not a training checkpoint to resume from")
    return checkpoint.state


@dataclass
class Checkpoint:
    """What ``read_checkpoint`` found.

    Attributes:
        kind: ``'training'`` or ``'encoder'``.
        path: the file read.
        state: the whole checkpoint dict (training) or the encoder's state dict.
        modelArgs: ``SimCLR`` arguments (training) or ``ResNet`` arguments (encoder).
        config: the run's resolved config as a plain dict, or None when the file has none.
    """

    kind: str
    path: Path
    state: Dict[str, Any]
    modelArgs: Dict[str, Any]
    config: Optional[Dict[str, Any]]


def read_checkpoint(path: Union[str, Path], map_location: Any = "cpu") -> Checkpoint:
    """Read a training checkpoint or an exported encoder (folder or ``encoder.pt``), with ``weights_only=True``.

    Raises:
        CheckpointError: missing, unreadable, of another format, or a field of the wrong type (the
            message names the file and the field).
    """
    path = Path(path)
    if path.is_dir():
        path = path / ENCODER_WEIGHTS
    state = read_weights(path, map_location)
    if not isinstance(state, dict):
        raise CheckpointError(f"{str(path)!r} is not a checkpoint of this project (not a dict)")
    if "format" in state or "epoch" in state:
        return _training(path, state)
    spec = path.with_name(ENCODER_CONFIG)
    if not spec.is_file():
        raise CheckpointError(f"{str(path)!r} is neither a training checkpoint nor an exported encoder "
                              f"({ENCODER_CONFIG} is missing beside it)")
    try:
        modelArgs = json.loads(spec.read_text())
        runConfig = path.with_name(RUN_CONFIG)
        config = yaml.safe_load(runConfig.read_text()) if runConfig.is_file() else None
    except (OSError, ValueError, yaml.YAMLError, RecursionError) as err:
        raise CheckpointError(f"{str(spec)!r} or its {RUN_CONFIG} cannot be read "
                              f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from err
    if not isinstance(modelArgs, dict) or not all(isinstance(k, str) for k in modelArgs):
        raise CheckpointError(f"{str(spec)!r} is a {type(modelArgs).__name__}, not a mapping of ResNet arguments")
    if config is not None and not isinstance(config, dict):
        raise CheckpointError(f"{str(runConfig)!r} is a {type(config).__name__}, not a mapping of config sections")
    return Checkpoint("encoder", path, state, modelArgs, config)


def _training(path: Path, state: dict) -> Checkpoint:
    if state.get("format") != CKPT_FORMAT:
        raise CheckpointError(f"{str(path)!r} has format {state.get('format')!r}; this version reads "
                              f"{CKPT_FORMAT!r}")
    for field, kind in TRAINING_FIELDS.items():
        if field not in state:
            raise CheckpointError(f"{str(path)!r}: field {field!r} is missing")
        if not isinstance(state[field], kind) or isinstance(state[field], bool):
            allowed = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise CheckpointError(f"{str(path)!r}: field {field!r} is a {type(state[field]).__name__}, not a "
                                  f"{allowed}")
    for field in COUNTERS:
        if state[field] < 0:
            raise CheckpointError(f"{str(path)!r}: field {field!r} is {state[field]}; a counter is >= 0")
    return Checkpoint("training", path, state, dict(state["modelArgs"]), state["config"])


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


def model_difference(mine: dict, theirs: dict) -> str:
    """The first difference between two state dicts, in words (``''`` when names and shapes agree)."""
    missing = [k for k in mine if k not in theirs]
    extra = [k for k in theirs if k not in mine]
    if missing or extra:
        return (f"{len(missing)} tensors of this model are not in the checkpoint (first: {missing[:1]}), "
                f"{len(extra)} of the checkpoint not in this model (first: {extra[:1]})")
    for key, tensor in mine.items():
        other = theirs[key]
        if not torch.is_tensor(other) or other.shape != tensor.shape:
            shape = list(other.shape) if torch.is_tensor(other) else type(other).__name__
            return f"{key} is {shape} in the checkpoint and {list(tensor.shape)} here (another width)"
    return ""
