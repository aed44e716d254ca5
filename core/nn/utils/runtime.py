"""Run-time helpers: seeding, the random generators' snapshot, and device selection."""
from __future__ import annotations

import logging
import random
import re
from typing import Any, Dict

import numpy as np
import torch

log = logging.getLogger(__name__)
DEVICE_PATTERN = re.compile(r"^(cpu|cuda|cuda:\d+)$")


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def epoch_seeds(seed: int, epoch: int) -> tuple:
    """The two seeds of one epoch, from the run's seed alone: ``(global, order)``.

    ``global`` reseeds python, numpy and torch at the epoch's start (the
    augmentations' draws); ``order`` seeds the sampler's permutation and the
    DataLoader's generator (the workers' base seeds). A resumed run recomputes
    them, so it replays exactly what an uninterrupted one does.
    """
    return seed + epoch, seed * 100003 + epoch


def resolve_device(name: str) -> torch.device:
    """``'cpu'``, ``'cuda'`` or ``'cuda:N'`` -> a usable device.

    A CUDA device that is not there falls back to the CPU with one warning.

    Raises:
        ValueError: ``name`` is none of the accepted forms.
    """
    if not DEVICE_PATTERN.match(str(name)):
        raise ValueError(f"general.device={name!r} is not supported; use 'cpu', 'cuda' or 'cuda:N'")
    if name == "cpu":
        return torch.device("cpu")
    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(name.split(":")[1]) if ":" in name else 0
    if index >= available:
        log.warning("general.device=%s requested but %s; running on the CPU", name,
                    "CUDA is not available" if available == 0 else f"only {available} CUDA device(s) exist")
        return torch.device("cpu")
    return torch.device(name)


def capture_rng() -> Dict[str, Any]:
    """A snapshot of every generator: Python's, NumPy's, torch's and (when present) each CUDA device's.

    Returns:
        ``{'torch': ByteTensor, 'cuda': [ByteTensor per device], 'numpy': [...], 'python': tuple}``,
        tensors and plain values only (it is stored in checkpoints read with ``weights_only``).
    """
    npState = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [npState[0], torch.from_numpy(npState[1].copy()), npState[2], npState[3], npState[4]],
        "python": random.getstate(),
    }


def restore_rng(rng: Dict[str, Any]) -> None:
    """Undo ``capture_rng``; CUDA states are restored when this machine has as many devices.

    Nothing changes unless every CPU state is valid.

    Raises:
        ValueError: a state that is not one ``capture_rng`` makes (names which).
    """
    try:
        torchState = rng["torch"].cpu()
        npState = rng["numpy"]
        numpyState = (npState[0], npState[1].numpy(), npState[2], npState[3], npState[4])
        version, state, gauss = rng["python"]
        pythonState = (version, tuple(state), gauss)
        check = torch.Generator()
        check.set_state(torchState)
        np.random.RandomState().set_state(numpyState)
        random.Random().setstate(pythonState)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, RuntimeError) as err:
        raise ValueError(f"the random generator states are not those of this project "
                         f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else err!r})") from err
    torch.set_rng_state(torchState)
    np.random.set_state(numpyState)
    random.setstate(pythonState)
    cuda = rng.get("cuda") or []
    if cuda and torch.cuda.is_available():
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
        else:
            log.warning("the saved state has %d CUDA generator states, this machine %d devices: CUDA draws not "
                        "restored", len(cuda), torch.cuda.device_count())
