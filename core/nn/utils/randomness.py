"""Randomness: seeding every generator, the per-epoch seeds, and the generators' snapshot for checkpoints.

Choosing the device lives in ``core/nn/utils/device.py``.
"""
from __future__ import annotations

import logging
import random
from typing import Any, Dict

import numpy as np
import torch

from core.nn.utils.device import cuda_count

log = logging.getLogger(__name__)


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
    devices = cuda_count()
    if cuda and devices:
        if len(cuda) == devices:
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
        else:
            log.warning("the saved state has %d CUDA generator states, this machine %d devices: CUDA draws not "
                        "restored", len(cuda), devices)
