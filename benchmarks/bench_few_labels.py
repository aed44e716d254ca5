"""Few labels (paper Sec. 6): a pretrained encoder against the same network from random initialization.

    python train/main.py -l assets/experiments/quickstart.yaml          # the encoder to measure
    python benchmarks/bench_few_labels.py --ckpt assets/checkpoints/quickstart -l assets/experiments/quickstart.yaml

Runs the README's few-label rows with the project's own command-line tools (``train/finetune.py``,
``train/linear_eval.py``), once on ``--ckpt`` and once with ``--random-init`` (the architecture of
``-l``), on the same labeled subset, and prints the README's table (Markdown) with the date, the
machine and the seconds each run took. Results go to a temporary folder; nothing of the run is touched.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.machine import cpu_name, versions  # noqa: E402

# (labels, method, tool, flags, the result's key)
ROWS = [
    ("10 per class (100)", "fine-tune, crop only (`--no-flip`)", "finetune",
     ["--labels-per-class", "10", "--no-flip"], "finetune_top1"),
    ("10 per class (100)", "fine-tune, crop + flip", "finetune", ["--labels-per-class", "10"], "finetune_top1"),
    ("10% (144)", "fine-tune, crop only", "finetune", ["--fraction", "0.1", "--no-flip"], "finetune_top1"),
    ("10 per class (100)", "linear probe on frozen `h`", "linear_eval", ["--labels-per-class", "10"], "linear_top1"),
    ("10 per class (100)", "linear layer on frozen `h` trained like fine-tuning (`--frozen`, crop only)", "finetune",
     ["--labels-per-class", "10", "--no-flip", "--frozen"], "finetune_top1"),
]


def run_tool(tool: str, source: list, flags: list, logs: Path) -> tuple:
    """``(result dict, seconds)`` of one run of ``train/<tool>.py``."""
    command = [sys.executable, str(REPO / "train" / f"{tool}.py"), *source, *flags, "--force",
               "--opts", "general.logsDir", str(logs)]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    found = re.search(r"^results: (.+)$", done.stdout, re.M)
    if done.returncode != 0 or not found:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-1500:]}{done.stderr[-1500:]}")
    return json.loads(Path(found[1]).read_text()), seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", required=True, help="the pretrained encoder (a checkpoint, encoder.pt or its folder)")
    parser.add_argument("-l", "--load", required=True, help="experiment YAML of the random-init baseline")
    args = parser.parse_args()
    print(f"# few-label benchmark, {time.strftime('%Y-%m-%d')}: {args.ckpt} | {cpu_name()} | {versions()}")
    print("| labels | method | pretrained top-1 | random init top-1 |\n|---|---|---|---|")
    seconds = []
    with tempfile.TemporaryDirectory(prefix="bench_few_labels_") as temp:
        for labels, method, tool, flags, key in ROWS:
            pre, preSeconds = run_tool(tool, ["--ckpt", args.ckpt], flags, Path(temp) / "pre")
            rand, randSeconds = run_tool(tool, ["--random-init", "-l", args.load], flags, Path(temp) / "rand")
            extra = ""
            if tool == "linear_eval":
                method += f" (kNN on the same 100: {pre['knn_top1']:.3f})"
                extra = f" (raw pixels: {pre['pixels_linear_top1']:.3f})"
            print(f"| {labels} | {method} | {pre[key]:.3f} | {rand[key]:.3f}{extra} |")
            seconds += [preSeconds, randSeconds]
    print(f"each run {min(seconds):.1f} to {max(seconds):.1f} s (the whole command, start-up included)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
