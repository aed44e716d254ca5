"""benchmarks/gpu_check.sh: its CPU dry run passes every stage and ends in its summary table.

The same script runs on a GPU when one is lent (docs/performance.md); here it runs the real
command lines at small sizes: a training run stopped by a SIGTERM to its process group and
resumed, the learning run, the three evaluation tools, the step and loss timings.
"""
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT, TIMEOUT

STAGES = ["preempt", "resume", "learn", "linear_eval", "finetune", "tsne", "step_timing", "loss_timing"]


@pytest.mark.slow
def test_the_gpu_check_dry_run_passes_every_stage(tmp_path):
    logs = REPO_ROOT / "assets" / "logs"
    before = sorted(p.relative_to(logs) for p in logs.rglob("*")) if logs.is_dir() else []
    env = dict(os.environ, DEVICE="cpu", PYTHON=sys.executable, WORK=str(tmp_path),
               SKIP_TESTS="1")   # the suite runs the CUDA tests itself
    proc = subprocess.run(["bash", "benchmarks/gpu_check.sh"], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = proc.stdout[proc.stdout.index("# GPU check summary"):]
    rows = dict(re.findall(r"^\| (\w+) \| (ok|FAILED[^|]*) \|", table, re.M))
    assert rows == {stage: "ok" for stage in STAGES}, table
    assert re.search(r"\| preempt \| ok \| [\d.]+ \| device cpu.*SIGTERM: stopping after step", table), table
    assert re.search(r"\| resume \| ok \| [\d.]+ \| resumed from .*epoch 2/2 +loss", table), table
    assert (tmp_path / "tsne.png").stat().st_size > 0
    assert re.search(r"\| step_timing \| ok \| [\d.]+ \| +fp32 \| \w+ \| +\d+", table), table   # not "failed"
    after = sorted(p.relative_to(logs) for p in logs.rglob("*")) if logs.is_dir() else []
    assert after == before, "the check wrote into the repository's assets/logs"       # everything under WORK
