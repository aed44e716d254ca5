"""Time and memory of one Gradescope grading run, inside limits like Gradescope's default container.

    python benchmarks/bench_autograder.py [--memory-mb 768] [--cpus 0.5] [--submission reference|empty]

Builds the autograder archive (``python -m core.starter ... --autograder``), lays it out as
Gradescope does (``source/``, ``submission/``, ``results/``) in a temporary folder, and runs
``run_autograder`` on the reference solution's task files. With root and a writable cgroup-v1
hierarchy (``/sys/fs/cgroup/memory``, ``/sys/fs/cgroup/cpu``) the run is confined to the given
memory and CPU share, as Gradescope confines it (a run over the memory limit is killed); the peak
is the cgroup's ``memory.max_usage_in_bytes`` (resident memory and page cache, as the kernel
charges it). Without cgroups it reports the peak resident set of the grading processes only.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.machine import cpu_name, versions  # noqa: E402
from core.course.task_regions import TASK_FILES  # noqa: E402

CGROUP_MEMORY = Path("/sys/fs/cgroup/memory")
CGROUP_CPU = Path("/sys/fs/cgroup/cpu")


def layout(root: Path, submission: str) -> None:
    """Gradescope's folders under ``root``, the archive unpacked in ``source``."""
    archive = root / "autograder.zip"
    subprocess.run([sys.executable, "-m", "core.starter", str(root / "starter"), "--autograder", str(archive)],
                   cwd=REPO_ROOT, check=True, capture_output=True)
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(root / "source")
    (root / "source" / "run_autograder").chmod(0o755)
    (root / "submission").mkdir()
    if submission == "reference":
        for rel in TASK_FILES:
            target = root / "submission" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO_ROOT / rel, target)


def confined(memoryMb: int, cpus: float):
    """A fresh cgroup pair with the limits, or None when this machine does not allow one."""
    name = f"simclr-bench-{os.getpid()}"
    try:
        memory, cpu = CGROUP_MEMORY / name, CGROUP_CPU / name
        memory.mkdir()
        cpu.mkdir()
        (memory / "memory.limit_in_bytes").write_text(str(memoryMb * 2 ** 20))
        if (memory / "memory.memsw.limit_in_bytes").exists():
            (memory / "memory.memsw.limit_in_bytes").write_text(str(memoryMb * 2 ** 20))
        (cpu / "cpu.cfs_period_us").write_text("100000")
        (cpu / "cpu.cfs_quota_us").write_text(str(int(cpus * 100000)))
        return memory, cpu
    except OSError:
        return None


def remove(groups) -> None:
    """Move any process left in the cgroups back to the root, then delete them."""
    for group in groups:
        for _ in range(50):
            for pid in (group / "cgroup.procs").read_text().split():
                try:
                    (group.parent / "cgroup.procs").write_text(pid)
                except OSError:
                    pass
            try:
                group.rmdir()
                break
            except OSError:
                time.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory-mb", type=int, default=768)
    parser.add_argument("--cpus", type=float, default=0.5)
    parser.add_argument("--submission", choices=["reference", "empty"], default="reference")
    args = parser.parse_args()
    print(f"{cpu_name()}; {versions()}")
    with tempfile.TemporaryDirectory(prefix="simclr-gradescope-") as temp:
        root = Path(temp)
        layout(root, args.submission)
        env = dict(os.environ, SIMCLR_GRADESCOPE_ROOT=str(root), SIMCLR_AUTOGRADER_PYTHON=sys.executable)
        groups = confined(args.memory_mb, args.cpus)

        def join_groups():
            for group in groups or ():
                (group / "cgroup.procs").write_text(str(os.getpid()))

        start = time.monotonic()
        done = subprocess.run([str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True,
                              preexec_fn=join_groups)
        wall = time.monotonic() - start
        results = root / "results" / "results.json"
        payload = json.loads(results.read_text()) if results.is_file() else {}
        if groups:
            peak = int((groups[0] / "memory.max_usage_in_bytes").read_text()) / 2 ** 20
            killed = int((groups[0] / "memory.failcnt").read_text())
            limits = f"cgroup: {args.memory_mb} MB, {args.cpus} CPU"
            remove(groups)
        else:
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            killed = 0
            limits = "no cgroup (peak resident set of one grading process)"
        tests = {t["name"]: f"{t['score']}/{t['max_score']}" for t in payload.get("tests", [])}
        print(f"submission: {args.submission}; limits: {limits}")
        print(f"wall {wall:.1f} s, peak memory {peak:.0f} MB, memory-limit hits {killed}, exit {done.returncode}")
        print(f"score {payload.get('score')}: {tests}")
        for test in payload.get("tests", []):
            if test.get("score", 0) < test.get("max_score", 0):
                print(f"  {test['name']}: {test.get('output', '').strip().splitlines()[:2]}")
        if not payload:
            print(done.stdout[-3000:], done.stderr[-3000:])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
