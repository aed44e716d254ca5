"""The small-image recipe, measured: one quickstart run per setting, kNN against step 0 and raw pixels.

    python benchmarks/bench_recipe.py                       # every setting, 20 epochs each (~1 min each here)
    python benchmarks/bench_recipe.py --epochs 40 --only base minScale=0.08

Each row is ``train/main.py -l assets/experiments/quickstart.yaml`` (the embedded digits, 8x8
grayscale upscaled to 16 px) with one change, run through the trainer in this process; it
prints the kNN top-1 of the untrained encoder (step 0), of the trained one, and of raw pixels,
so a row shows at once whether pretraining helped. The table backs the recipe section of
docs/training.md; the date and machine are printed with it.
"""
from __future__ import annotations

import argparse
import datetime
import logging
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.machine import cpu_name, versions  # noqa: E402
from benchmarks.timing import table  # noqa: E402
from train.config import load_config  # noqa: E402

SETTINGS = {   # name -> --opts over quickstart.yaml
    "base": [],
    "minScale=0.08": ["data.minScale", "0.08"],        # the paper's ImageNet crop
    "minScale=0.3": ["data.minScale", "0.3"],
    "jitterStrength=0": ["data.jitterStrength", "0.0"],   # no colour distortion (the digits are grayscale)
    "jitterStrength=1.0": ["data.jitterStrength", "1.0"],
    "temperature=0.5": ["loss.temperature", "0.5"],     # the paper's CIFAR-10 value
    "temperature=0.1": ["loss.temperature", "0.1"],
    "batch=64": ["train.trainBatch", "64"],
    "lr=3e-3": ["optimizer.lr", "0.003"],
    "LARS lr=0.3": ["optimizer.name", "LARS", "optimizer.lr", "0.3", "optimizer.weightDecay", "1e-6"],
}


def run(name: str, opts: list, epochs: int, root: Path) -> list:
    from train.trainer import SimCLRTrainer

    cfg = load_config("assets/experiments/quickstart.yaml", [
        *opts, "train.epochs", str(epochs), "log.evalEpoch", str(epochs), "log.saveEpoch", str(epochs),
        "log.tsneSamples", "0", "log.embeddingSamples", "0", "general.name", name.replace("=", "_").replace(" ", "_"),
        "general.logsDir", str(root / "logs"), "general.saveDir", str(root / "ckpt"), "general.threads", "2"])
    trainer = SimCLRTrainer(cfg)
    start = time.perf_counter()
    try:
        metrics = trainer.train()
    finally:
        trainer.close()
    seconds = time.perf_counter() - start
    gain = metrics["knn_top1"] - metrics["knn_top1_step0"]
    return [name, f"{metrics['knn_top1_step0']:.4f}", f"{metrics['knn_top1']:.4f}", f"{gain:+.4f}",
            f"{metrics['knn_top1_pixels']:.4f}", f"{metrics['loss']:.3f}", f"{seconds:.0f}"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--only", nargs="+", choices=list(SETTINGS), help="these settings only")
    args = parser.parse_args()
    logging.getLogger("simclr").setLevel(logging.WARNING)
    print(f"# quickstart recipe, {args.epochs} epochs per row | {datetime.date.today()} | {cpu_name()} | "
          f"{versions()}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_recipe_") as tmp:
        for name in args.only or list(SETTINGS):
            rows.append(run(name, SETTINGS[name], args.epochs, Path(tmp)))
            print(f"  {name}: kNN {rows[-1][2]} (step 0 {rows[-1][1]})", flush=True)
    print(table(["setting (over quickstart.yaml)", "kNN step 0", "kNN trained", "gain", "kNN raw pixels",
                 "final loss", "train s"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
