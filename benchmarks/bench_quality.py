"""Quality benchmark: pretrain with an experiment YAML, then probe; prints one results row.

    python benchmarks/bench_quality.py -l assets/experiments/quickstart.yaml
    python benchmarks/bench_quality.py -l assets/experiments/quickstart.yaml --images assets/images

Reports kNN and linear top-1 of the pretrained encoder and of the same
architecture at random initialization, the raw-pixel linear baseline when the
dataset is small, the training wall time and the machine. Rows are appended to
``benchmarks/results.csv`` with the date and the experiment: the README's quickstart and results
figures are the newest row of the quickstart (``tests/test_docs.py`` checks that they are).
``--images`` also writes the loss/kNN curves and the final t-SNE figure of the run (the README's
pictures).
"""
from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from benchmarks.machine import device_name, versions  # noqa: E402
from core.eval.knn import knn_top1  # noqa: E402
from core.eval.classifier import linear_probe  # noqa: E402
from train.config import load_config  # noqa: E402
from train.encoder_setup import build_encoder, split_features  # noqa: E402
from train.trainer import SimCLRTrainer  # noqa: E402

FIELDS = ["date", "experiment", "dataset", "arch", "width", "img_size", "epochs", "batch", "wall_s", "device",
          "knn_top1", "linear_top1", "random_knn_top1", "random_linear_top1", "pixels_linear_top1"]


def probe(cfg, encoder, device):
    bank, bankLabels = split_features(cfg, encoder, "memory", device)
    test, testLabels = split_features(cfg, encoder, "test", device)
    knn = knn_top1(bank, bankLabels, test, testLabels, cfg.log.knnK, cfg.log.knnT)
    return knn, linear_probe(bank, bankLabels, test, testLabels)["top1"]


def save_images(logDir: Path, outDir: Path, name: str, randomKnn: float) -> None:
    """Loss and kNN curves from the run's event file, and its last t-SNE figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logDir), size_guidance={"scalars": 0})
    acc.Reload()
    loss, knn = acc.Scalars("train/loss"), acc.Scalars("eval/knn_top1")
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2), dpi=100)
    left.plot([e.step for e in loss], [e.value for e in loss])
    left.set(title="train/loss (NT-Xent)", xlabel="step")
    right.plot([e.step for e in knn], [e.value for e in knn], marker="o", label="pretrained")
    right.axhline(randomKnn, linestyle="--", color="gray", label="random init")
    right.set(title="eval/knn_top1", xlabel="step (0 = untrained)", ylim=(0, 1))
    right.legend(loc="lower right")
    fig.tight_layout()
    outDir.mkdir(parents=True, exist_ok=True)
    fig.savefig(outDir / f"{name}_curves.png")
    plt.close(fig)
    shutil.copy(sorted(logDir.glob("tsne_epoch*.png"))[-1], outDir / f"{name}_tsne.png")
    print(f"images: {outDir / (name + '_curves.png')}, {outDir / (name + '_tsne.png')}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-l", "--load", required=True, help="experiment YAML")
    parser.add_argument("--opts", nargs="+", default=[], help="config overrides")
    parser.add_argument("--images", help="folder for the README pictures of this run")
    parser.add_argument("--csv", default=str(REPO / "benchmarks" / "results.csv"), help="results file to append to")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_quality_"))
    cfg = load_config(args.load, [*args.opts, "general.logsDir", str(work / "logs"),
                                  "general.saveDir", str(work / "ckpt")])
    print(f"# quality benchmark: {args.load} | {versions()}")
    trainer = SimCLRTrainer(cfg)
    start = time.perf_counter()
    try:
        trainer.train()
    finally:
        trainer.close()
    wall = time.perf_counter() - start
    device = trainer.device
    knn, linear = probe(cfg, build_encoder(cfg, str(trainer.saveDir / "encoder.pt"), False).to(device), device)
    randKnn, randLinear = probe(cfg, build_encoder(cfg, None, True).to(device), device)
    flat = torch.nn.Flatten().eval()
    pixels = ""
    if cfg.data.imgSize <= 32 and len(trainer.memorySet) <= 60000:
        bank, bankLabels = split_features(cfg, flat, "memory", torch.device("cpu"))
        test, testLabels = split_features(cfg, flat, "test", torch.device("cpu"))
        pixels = f"{linear_probe(bank, bankLabels, test, testLabels)['top1']:.3f}"
    kwargs = dict(cfg.model.kwargs)
    row = {"date": time.strftime("%Y-%m-%d"), "experiment": Path(args.load).as_posix(),
           "dataset": cfg.data.dataset, "arch": f"ResNet-{kwargs.get('archType', '18')}",
           "width": kwargs.get("baseChNo", 64), "img_size": cfg.data.imgSize, "epochs": cfg.train.epochs,
           "batch": cfg.train.trainBatch, "wall_s": f"{wall:.0f}", "device": device_name(device),
           "knn_top1": f"{knn:.3f}", "linear_top1": f"{linear:.3f}", "random_knn_top1": f"{randKnn:.3f}",
           "random_linear_top1": f"{randLinear:.3f}", "pixels_linear_top1": pixels}
    print("| " + " | ".join(FIELDS) + " |")
    print("| " + " | ".join(str(row[f]) for f in FIELDS) + " |")
    csvPath = Path(args.csv)
    new = not csvPath.exists()
    with csvPath.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(row)
    if args.images:
        save_images(trainer.logDir, Path(args.images), cfg.general.name, randKnn)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
