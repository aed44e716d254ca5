"""The quickstart on a busy machine: 0, 1 and 2 competing CPU-bound processes, thread settings side by side.

    python benchmarks/bench_busy.py           # 4 epochs, 3 rounds, hogs 0,1,2,1~, modes auto,fixed2,fixed1
    python benchmarks/bench_busy.py --epochs 6 --rounds 5 --hogs 0,1 --modes auto,fixed2

Each run is ``train/main.py -l assets/experiments/quickstart.yaml`` for ``--epochs`` epochs (no
evaluation, one checkpoint at the end) in a fresh process, with ``N`` busy-looping Python processes
that this script starts before and stops after it; ``1~`` is one process that runs and pauses in turns
(``--period`` seconds each, SIGSTOP/SIGCONT), a load that comes and goes. Modes: ``auto`` is the default
(threads chosen from the cores other processes leave free and followed during the run); ``fixedK`` sets
``general.threads K``. The runs alternate (every hog count and mode once per round), so a slow
moment of the machine hits all of them. Reported per hog count and mode: the median (min-max) of the
wall time of the whole command, of the training epochs alone (from the log), and of the CPU seconds
the training process used; the ratio to the idle ``auto`` run. A benchmark, not a test: the numbers
depend on the machine, which the header names.
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Tuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.machine import cpu_name, versions  # noqa: E402
from benchmarks.timing import table  # noqa: E402

EPOCH_LINE = re.compile(r"epoch \d+/\d+ .* ([\d.]+) s$")
HOG = "while True:\n    pass\n"


def run_once(folder: Path, name: str, epochs: int, mode: str) -> Tuple[float, float, float, List[str]]:
    """``(wall s, epochs s, CPU s, thread log lines)`` of one quickstart run."""
    opts = ["general.name", name, "general.logsDir", str(folder / "logs"), "general.saveDir", str(folder / "ckpt"),
            "train.epochs", str(epochs), "log.evalEpoch", "0", "log.evalAtStart", "False", "log.saveEpoch", "0",
            "log.tsneSamples", "0", "log.embeddingSamples", "0", "log.imagePairs", "0",
            "optimizer.warmupEpochs", "1"]
    if mode.startswith("fixed"):
        opts += ["general.threads", mode[len("fixed"):]]
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "train/main.py", "-l", "assets/experiments/quickstart.yaml",
                           "--opts", *opts], cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"run {name} failed:\n{proc.stderr[-2000:]}")
    lines = (proc.stdout + proc.stderr).splitlines()
    epochSeconds = sum(float(m.group(1)) for line in lines if (m := EPOCH_LINE.search(line)))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, epochSeconds, cpu, [line for line in lines if line.startswith("CPU threads ")]


class Hogs:
    """``spec`` CPU-bound processes (``'2'``), or one that pauses every other ``period`` seconds (``'1~'``)."""

    def __init__(self, spec: str, period: float):
        self.procs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(int(spec.rstrip("~")))]
        self.stop = threading.Event()
        self.toggler = threading.Thread(target=self.toggle, args=(period,), daemon=True) if spec.endswith("~") \
            else None
        if self.toggler:
            self.toggler.start()

    def toggle(self, period: float) -> None:
        paused = False
        while not self.stop.wait(period):
            paused = not paused
            for proc in self.procs:
                proc.send_signal(signal.SIGSTOP if paused else signal.SIGCONT)

    def close(self) -> None:
        self.stop.set()
        if self.toggler:
            self.toggler.join()
        for proc in self.procs:
            proc.kill()
            proc.wait()


def spread(values: List[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hogs", default="0,1,2,1~", help="competing processes: counts, or 1~ (on and off)")
    parser.add_argument("--period", type=float, default=3.0, help="seconds on and off of an intermittent hog")
    parser.add_argument("--modes", default="auto,fixed2,fixed1", help="auto and/or fixedK (general.threads K)")
    args = parser.parse_args()
    hogCounts = args.hogs.split(",")
    modes = args.modes.split(",")
    results: Dict[Tuple[str, str], List[Tuple[float, float, float]]] = {}
    notes: Dict[Tuple[str, str], List[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for hogs in hogCounts:
                for mode in (modes if round_ % 2 == 0 else modes[::-1]):
                    running = Hogs(hogs, args.period)
                    try:
                        time.sleep(0.5)                      # the hogs are running before the run starts
                        wall, epochs, cpu, lines = run_once(Path(tmp), f"r{round_}_h{hogs}_{mode}", args.epochs,
                                                            mode)
                    finally:
                        running.close()
                    results.setdefault((hogs, mode), []).append((wall, epochs, cpu))
                    notes.setdefault((hogs, mode), []).extend(lines)
                    print(f"round {round_ + 1}, {hogs} hog(s), {mode}: {wall:.1f} s wall, {epochs:.1f} s in epochs, "
                          f"{cpu:.1f} CPU-s", flush=True)
    idle = statistics.median(r[1] for r in results.get(("0", "auto"), [(0, float("nan"), 0)]))
    rows = []
    for hogs in hogCounts:
        for mode in modes:
            runs = results[(hogs, mode)]
            epochs = [r[1] for r in runs]
            rows.append([hogs, mode, spread([r[0] for r in runs]), spread(epochs), spread([r[2] for r in runs]),
                         f"{statistics.median(epochs) / idle:.2f}x"])
    print(f"\nquickstart, {args.epochs} epochs, {args.rounds} rounds; {cpu_name()}; {versions()}")
    print(table(["competing processes", "threads", "wall s", "epochs s", "CPU s", "epochs vs idle auto"], rows))
    for key, lines in notes.items():
        if lines:
            changes = [line.split("CPU threads ")[1].split(":")[0] for line in lines]
            print(f"{key[0]} hog(s), {key[1]}: {len(changes)} thread changes in {args.rounds} runs "
                  f"({', '.join(changes[:8])})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
