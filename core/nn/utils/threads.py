"""How many CPU threads one process gives PyTorch's intra-op pool.

PyTorch's default is one thread per physical core, whatever else runs: with
DataLoader workers, several torchrun processes, or other jobs on the machine,
the threads outnumber the cores and spin waiting for each other (a 2-core run
can burn 6x the CPU time it needs). ``choose_threads`` decides deliberately:

- ``requested > 0``: that many (the config's ``general.threads``);
- else ``OMP_NUM_THREADS`` when the user set it;
- else the cores this process may use (its CPU affinity, shared among the
  local torchrun processes), less one per busy DataLoader worker, up to half of
  them: ``max(1, perProcess - min(workers, perProcess // 2))``.
"""
from __future__ import annotations

import os
from typing import Optional, Tuple


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def choose_threads(requested: int, workers: int, processes: int = 1, cores: Optional[int] = None,
                   environ: Optional[dict] = None) -> Tuple[int, str]:
    """``(threads, why)`` for one process; ``why`` says where the number came from.

    Args:
        requested: ``general.threads`` (0 = automatic).
        workers: DataLoader worker processes of this process.
        processes: processes of this run on this machine (torchrun's ``LOCAL_WORLD_SIZE``).
        cores: usable cores (default: ``usable_cores()``); environ: default ``os.environ``.
    """
    if requested > 0:
        return requested, "general.threads"
    environ = os.environ if environ is None else environ
    fromEnv = environ.get("OMP_NUM_THREADS", "")
    if fromEnv.isdigit() and int(fromEnv) > 0:
        return int(fromEnv), "OMP_NUM_THREADS"
    cores = usable_cores() if cores is None else cores
    perProcess = max(1, cores // max(1, processes))
    threads = max(1, perProcess - min(workers, perProcess // 2))
    return threads, (f"auto: {cores} cores, {processes} process{'es' if processes > 1 else ''}, "
                     f"{workers} DataLoader worker{'s' if workers != 1 else ''}")


def busy_note(threads: int, cores: Optional[int] = None) -> Optional[str]:
    """A hint when other jobs already keep the cores busy (1-minute load average), else None."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return None
    cores = usable_cores() if cores is None else cores
    if load + threads <= cores + 0.5:
        return None
    return (f"the machine is busy (load {load:.1f} on {cores} cores): if steps are slow, set fewer threads "
            f"(--opts general.threads 1)")


def apply_threads(requested: int, workers: int) -> Tuple[int, str]:
    """Choose (``choose_threads``, torchrun's ``LOCAL_WORLD_SIZE`` processes) and set ``torch.set_num_threads``."""
    import torch

    threads, why = choose_threads(requested, workers, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
    torch.set_num_threads(threads)
    return threads, why
