"""The students' first training run, measured with several correct solutions of the four tasks.

    python benchmarks/bench_first_run.py [--config assets/experiments/first_run.yaml] [--opts KEY VALUE ...]

For each solution set (the reference, and correct solutions from the grader's bank written in other
styles) it writes a starter, puts the set's task regions in, and runs ``train/main.py -l CONFIG``
there as a student would; it prints the kNN top-1 of ``h`` before training (step 0), after it, and
the wall time, with the date and machine. The table backs the numbers of docs/tasks.md (Task 5).
"""
from __future__ import annotations

import argparse
import datetime
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.machine import cpu_name, versions  # noqa: E402
from core.course.starter import make_starter  # noqa: E402
from core.course.task_regions import TASK_FILES, replace_regions  # noqa: E402
from tests.core.course.starter.test_mutation_bank import BANK, apply, parse  # noqa: E402

SETS = {   # name -> bank solutions put in place of the reference (the other tasks stay the reference's)
    "reference": [],
    "v1 torchvision, hint-literal build, loop loss": [
        "task1_tv_v1_flip_first", "task2_hint_literal", "task3_hint_literal", "task4_loop"],
    "albumentations, head reads the encoder, logsumexp loss": [
        "task1_albumentations_only", "task3_reads_the_encoder", "task4_boolean_masks_logsumexp"],
}
KNN = re.compile(r"kNN top-1 (\d\.\d+)")


def run(name: str, solutions, config: str, opts) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="simclr-first-run-")) / "starter"
    make_starter(folder)
    for rel in TASK_FILES:              # the reference everywhere, then the set's own regions
        (folder / rel).write_text(replace_regions((REPO / rel).read_text(), (folder / rel).read_text(), rel))
    for solution in solutions:
        meta, regions = parse(BANK / f"{solution}.solution")
        apply(folder, regions, meta["task"])
    start = time.monotonic()
    done = subprocess.run([sys.executable, "train/main.py", "-l", config, *(["--opts", *opts] if opts else [])],
                          cwd=folder,
                          env=dict(os.environ, PYTHONPATH=str(folder)), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    seconds = time.monotonic() - start
    found = [float(v) for v in KNN.findall(done.stdout + done.stderr)]
    if done.returncode != 0 or len(found) < 2:
        raise SystemExit(f"{name}: the run failed ({done.returncode}): {done.stderr[-2000:]}")
    return {"set": name, "step0": found[0], "final": found[-1], "seconds": seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="assets/experiments/first_run.yaml")
    parser.add_argument("--opts", nargs="*", default=[])
    args = parser.parse_args()
    print(f"{datetime.date.today()}; {cpu_name()}; {versions()}; {args.config} {' '.join(args.opts)}")
    print("| solutions | kNN top-1 at step 0 | after training | wall time |")
    print("|---|---|---|---|")
    for name, solutions in SETS.items():
        row = run(name, solutions, args.config, args.opts)
        print(f"| {row['set']} | {row['step0']:.4f} | **{row['final']:.4f}** | {row['seconds']:.0f} s |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
