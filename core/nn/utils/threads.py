"""How many CPU threads one process gives PyTorch's intra-op pool.

PyTorch's default is one thread per physical core, whatever else runs: with
DataLoader workers, several torchrun processes, or other jobs on the machine,
the threads outnumber the cores and spin waiting for each other (a 2-core run
can burn 6x the CPU time it needs). ``choose_threads`` decides deliberately:

- ``requested > 0``: that many (the config's ``general.threads``);
- else ``OMP_NUM_THREADS`` when the user set it;
- else the cores this process may use (its CPU affinity, shared among the
  local torchrun processes), less one per busy DataLoader worker, up to half of
  them: ``max(1, perProcess - min(workers, perProcess // 2))``, and no more than
  the cores other processes leave free right now (``free_cores``).

Other jobs come and go during a run, so in the automatic case ``ThreadGovernor``
re-decides every few seconds from the CPU time the machine spent outside this
process (``/proc/stat`` on Linux): one thread spinning on a core a busy
neighbour holds makes every step wait (measured: 5x slower than one thread).
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import List, Optional, Tuple

log = logging.getLogger("simclr")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


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


def apply_threads(requested: int, workers: int, follow: bool = False) -> Tuple[int, str, Optional["ThreadGovernor"]]:
    """Choose and set ``torch.set_num_threads``; returns ``(threads, why, governor or None)``.

    ``choose_threads`` gives the most (torchrun's ``LOCAL_WORLD_SIZE`` processes shared); in the
    automatic case no more than the cores other processes leave free now (a 0.1 s sample), and,
    with ``follow``, a ``ThreadGovernor`` that keeps following them. ``general.threads`` or
    ``OMP_NUM_THREADS`` fix the count: no sample, no governor.
    """
    import torch

    ceiling, why = choose_threads(requested, workers, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
    threads, governor = ceiling, None
    if why.startswith("auto") and ceiling > 1:
        cpus = allowed_cpus()
        free = free_cores(cpus)
        if free is not None and threads_for(free, ceiling) < ceiling:
            threads = threads_for(free, ceiling)
            why += f"; {free:.1f} of {len(cpus)} cores free now"
        if follow:
            governor = ThreadGovernor(ceiling, current=threads, cpus=cpus)
            why += "; following the free cores during the run"
    torch.set_num_threads(threads)
    return threads, why, governor


def allowed_cpus() -> List[int]:
    """The CPU numbers this process may run on."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def cpu_busy_seconds(cpus: List[int], stat: str = "/proc/stat") -> Optional[Tuple[float, float]]:
    """``(busy, total)`` CPU seconds so far of ``cpus``, summed (``/proc/stat``); None where there is none.

    Busy is every state but idle and iowait; steal counts as busy (another VM holds the core).
    """
    try:
        lines = Path(stat).read_text().splitlines()
    except OSError:
        return None
    wanted = {f"cpu{c}" for c in cpus}
    busy = total = 0
    for line in lines:
        fields = line.split()
        if fields and fields[0] in wanted:
            ticks = [int(v) for v in fields[1:9]]
            total += sum(ticks)
            busy += sum(ticks) - ticks[3] - ticks[4]
    return (busy / CLOCK_TICKS, total / CLOCK_TICKS) if total else None


def own_cpu_seconds() -> float:
    """CPU seconds of this process, its live children (DataLoader workers) and its reaped children."""
    times = os.times()
    seconds = time.process_time() + times.children_user + times.children_system
    try:
        children = [pid for task in Path("/proc/self/task").iterdir()
                    for pid in (task / "children").read_text().split()]
    except OSError:
        return seconds
    for pid in children:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            seconds += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS    # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return seconds


def free_cores(cpus: List[int], window: float = 0.1) -> Optional[float]:
    """Cores of ``cpus`` that other processes left free during the next ``window`` seconds (this one sleeps)."""
    before, ownBefore = cpu_busy_seconds(cpus), own_cpu_seconds()
    if before is None:
        return None
    time.sleep(window)
    after, ownAfter = cpu_busy_seconds(cpus), own_cpu_seconds()
    return other_free(before, after, ownAfter - ownBefore, len(cpus))


def other_free(before: Tuple[float, float], after: Tuple[float, float], own: float, cores: int) -> Optional[float]:
    """Free cores from two ``cpu_busy_seconds`` samples and this process's CPU seconds between them."""
    total = after[1] - before[1]
    if total <= 0:
        return None
    wall = total / cores
    other = max(0.0, (after[0] - before[0]) - own) / wall
    return max(0.0, cores - other)


def threads_for(free: float, ceiling: int) -> int:
    """Threads for ``free`` cores: rounded, at least 1, at most ``ceiling``."""
    return max(1, min(ceiling, int(free + 0.5)))


class ThreadGovernor:
    """Keeps PyTorch's CPU threads at the cores other processes leave free, re-deciding every ``interval`` s.

    Call ``update()`` often (every optimizer step: it returns at once between decisions). Fewer
    threads are taken at once (an oversubscribed core stalls every step); more only after two
    windows in a row found the cores free. Each change is logged in one line.

    Args:
        ceiling: the most threads (``choose_threads``' automatic count); current: the threads now.
        interval: seconds between decisions.
        setThreads: ``torch.set_num_threads`` (replaceable in tests); cpus, stat: for tests.
    """

    def __init__(self, ceiling: int, current: int, interval: float = 2.0, setThreads=None,
                 cpus: Optional[List[int]] = None, stat: str = "/proc/stat", clock=time.monotonic,
                 ownSeconds=own_cpu_seconds):
        import torch

        self.ceiling, self.interval, self.stat, self.clock, self.ownSeconds = ceiling, interval, stat, clock, ownSeconds
        self.setThreads = setThreads or torch.set_num_threads
        self.cpus = cpus if cpus is not None else allowed_cpus()
        self.threads = current
        self.wantedMore = 0
        self.changes: List[Tuple[int, int]] = []
        self.start()

    @property
    def active(self) -> bool:
        return self.sample is not None and self.ceiling > 1

    def start(self) -> None:
        """Begin a window now (after a pause in training, e.g. an evaluation)."""
        self.sample = cpu_busy_seconds(self.cpus, self.stat)
        self.own, self.since = self.ownSeconds(), self.clock()

    def update(self) -> Optional[str]:
        """Re-decide when a window is over; returns the log line of a change, else None."""
        if not self.active or self.clock() - self.since < self.interval:
            return None
        sample, own = cpu_busy_seconds(self.cpus, self.stat), self.ownSeconds()
        free = other_free(self.sample, sample, own - self.own, len(self.cpus)) if sample else None
        self.sample, self.own, self.since = sample, own, self.clock()
        if free is None:
            return None
        want = threads_for(free, self.ceiling)
        if want > self.threads:
            self.wantedMore += 1
            if self.wantedMore < 2:
                return None
        self.wantedMore = 0
        if want == self.threads:
            return None
        before, self.threads = self.threads, want
        self.setThreads(want)
        self.changes.append((before, want))
        line = (f"CPU threads {before} -> {want}: other processes left {free:.1f} of {len(self.cpus)} cores free "
                "in the last seconds")
        log.info("%s", line)
        return line
