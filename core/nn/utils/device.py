"""Choosing and entering a device: the one home for everything that differs between CUDA and the CPU.

The trainer, torchrun processes, the evaluation tools (linear probe, fine-tuning, t-SNE) and the
benchmarks all call ``enter_device``; what the device then decides (mixed precision, the grad
scaler, channels_last, pinned memory, the process-group backend, the memory free for data kept on
it) comes from the functions below, so the CUDA-only branches are plain functions of the device and
can be tested on a machine without a GPU (``tests/cuda_mock.py``). Checkpoints are always read to
the CPU (``train.run_folder.find_resume``) and copied into the model wherever it is.

``torch.cuda.set_device`` needs an index (``torch.device('cuda')`` raises "Expected a torch.device
with a specified index"), so ``'cuda'`` is resolved to ``cuda:0``, or under torchrun to the
process's ``LOCAL_RANK``, before it is entered.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Optional

import torch

log = logging.getLogger(__name__)
DEVICE_PATTERN = re.compile(r"^(cpu|cuda|cuda:\d+)$")


def cuda_count() -> int:
    """How many CUDA devices this process can use (0 without CUDA)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def resolve_device(name: str, localRank: Optional[int] = None) -> torch.device:
    """``'cpu'``, ``'cuda'`` or ``'cuda:N'`` -> the device to use, with its index when it is a GPU.

    Args:
        name: the configured device (``general.device``).
        localRank: this process's ``LOCAL_RANK`` under torchrun (it chooses the GPU), else None.

    Returns:
        ``cpu``, or ``cuda:N`` (never an index-less ``cuda``). A CUDA device on a machine without
        CUDA, or an index past the last device, falls back to the CPU with one warning.

    Raises:
        ValueError: ``name`` is none of the accepted forms, or a torchrun process has no GPU of its own.
    """
    if not DEVICE_PATTERN.match(str(name)):
        raise ValueError(f"general.device={name!r} is not supported; use 'cpu', 'cuda' or 'cuda:N'")
    if name == "cpu":
        return torch.device("cpu")
    available = cuda_count()
    if available == 0:
        log.warning("general.device=%s requested but CUDA is not available; running on the CPU", name)
        return torch.device("cpu")
    if localRank is not None:
        if localRank >= available:
            raise ValueError(f"general.device={name!r} under torchrun: LOCAL_RANK={localRank} has no GPU of its "
                             f"own ({available} CUDA device(s)); start at most {available} processes per node")
        if ":" in name and int(name.split(":")[1]) != localRank:
            log.warning("general.device=%s: under torchrun each process uses its LOCAL_RANK's GPU (cuda:%d)",
                        name, localRank)
        return torch.device("cuda", localRank)
    index = int(name.split(":")[1]) if ":" in name else 0
    if index >= available:
        log.warning("general.device=%s requested but only %d CUDA device(s) exist; running on the CPU",
                    name, available)
        return torch.device("cpu")
    return torch.device("cuda", index)


def enter_device(name: str, localRank: Optional[int] = None) -> torch.device:
    """``resolve_device``, then make a GPU this process's current device (``torch.cuda.set_device``).

    Every tool of the project chooses its device here.
    """
    device = resolve_device(name, localRank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def process_group_backend(device: torch.device) -> str:
    """torchrun's collective backend for processes on ``device``: NCCL between GPUs, Gloo on the CPU."""
    return "nccl" if device.type == "cuda" else "gloo"


@dataclass(frozen=True)
class Precision:
    """How the model runs on a device.

    Attributes:
        amp: autocast the forward pass.
        dtype: autocast's dtype (bf16 where the GPU supports it, else fp16).
        gradScaler: scale the loss (fp16 only: bf16 has float32's exponent range).
        channelsLast: the channels_last memory format for the convolutions.
    """

    amp: bool = False
    dtype: torch.dtype = torch.float32
    gradScaler: bool = False
    channelsLast: bool = False

    def scaler(self, device: torch.device) -> torch.amp.GradScaler:
        """The step's ``GradScaler`` for ``device`` (disabled unless ``gradScaler``)."""
        return torch.amp.GradScaler(device.type, enabled=self.gradScaler)

    def describe(self) -> str:
        """``''`` for fp32, else e.g. ``' (autocast torch.bfloat16, channels_last)'`` for the run's log."""
        parts = ([f"autocast {self.dtype}"] if self.amp else []) + (["GradScaler"] if self.gradScaler else [])
        parts += ["channels_last"] if self.channelsLast else []
        return f" ({', '.join(parts)})" if parts else ""


def precision_for(device: torch.device, amp: bool = True, channelsLast: bool = True) -> Precision:
    """The precision of ``general.amp`` / ``general.channelsLast`` on ``device``: both are CUDA-only speed-ups.

    On the CPU the run is float32 in the default memory format (exact and resumable bit for bit).
    """
    if device.type != "cuda":
        return Precision()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return Precision(amp=bool(amp), dtype=dtype if amp else torch.float32,
                     gradScaler=bool(amp) and dtype == torch.float16, channelsLast=bool(channelsLast))


def loader_options(device: torch.device, workers: int, train: bool) -> dict:
    """The DataLoader options that depend on the device.

    Pinned memory makes the copy to a GPU asynchronous; persistent workers save their start-up
    on every epoch but keep their RNG across epochs, so they are used only on CUDA (CPU runs stay
    exactly resumable).
    """
    cuda = device.type == "cuda"
    return {"pin_memory": cuda, "persistent_workers": train and cuda and workers > 0}


def free_memory(device: torch.device) -> int:
    """Bytes free on ``device``: the GPU's free memory, or the memory the operating system has available."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import os

    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
