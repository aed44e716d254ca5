"""Name the machine a benchmark ran on (for every table header and results row)."""
from __future__ import annotations

import os
import platform

import torch


def cpu_name() -> str:
    """The CPU model and the cores this process may use."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model} ({cores} cores)"


def device_name(device: torch.device) -> str:
    """GPU name for CUDA devices, the CPU description otherwise."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_name()


def versions() -> str:
    """Library versions line for table headers."""
    import torchvision

    return f"python {platform.python_version()}, torch {torch.__version__}, torchvision {torchvision.__version__}"
