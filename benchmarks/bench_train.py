"""Training-step throughput for an experiment YAML: fp32 vs bf16 autocast vs channels_last vs torch.compile.

    python benchmarks/bench_train.py -l assets/experiments/base_simclr.yaml --steps 20
    python benchmarks/bench_train.py -l assets/experiments/quickstart.yaml --device cpu

For each mode: images/s of the trainer's own optimizer step (``train.step.TrainStep``:
both views forward, NT-Xent, backward, Adam), with the model from
``train.builders.build_model``, and the data path excluded (one augmented batch reused, on
the device) and included (the DataLoader with the config's augmentation and
workers), and the epoch time this gives for CIFAR-10's 50,000 images. The data
path alone (loading, two-view augmentation, collation, copy to the device; no
model) is timed too, for the config's worker count and for each count given
to ``--data-workers``: when it delivers fewer images/s than the model takes,
augmentation is the bottleneck. The real dataset is used when it is on disk;
otherwise synthetic uint8 images of its shape (and the output says so).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from benchmarks.machine import device_name, versions  # noqa: E402
from benchmarks.timing import sync, table  # noqa: E402
from core.data.datasets import ArrayImages, DatasetError, build_dataset  # noqa: E402
from core.data.samplers import EpochSampler  # noqa: E402
from core.nn.loss import NTXent  # noqa: E402
from train.augmentation import build_augmentation, views_on_device  # noqa: E402
from train.builders import build_model, make_loader  # noqa: E402
from train.config import load_config  # noqa: E402
from train.optim import build_optimizer  # noqa: E402
from train.step import TrainStep  # noqa: E402

SHAPES = {"CIFAR10": 32, "CIFAR100": 32, "STL10": 96, "Digits": 8}
MODES = ("fp32", "bf16", "bf16+channels_last", "bf16+channels_last+compile")


def training_data(cfg, transform, minimum: int):
    """The real training split if present, else synthetic images of its shape."""
    try:
        data = build_dataset(cfg.data.dataset, "train", root=cfg.data.rootPath, transform=transform,
                             download=False, valFraction=cfg.data.valFraction)
        return data, f"real {cfg.data.dataset} ({len(data)} images)"
    except (DatasetError, ValueError):
        side = SHAPES.get(cfg.data.dataset, cfg.data.imgSize)
        images = np.random.default_rng(0).integers(0, 256, (minimum, side, side, 3), dtype=np.uint8)
        return (ArrayImages(images, np.zeros(minimum, np.int64), transform),
                f"SYNTHETIC uint8 {side}x{side} images ({cfg.data.dataset} not on disk)")


def view_maker(cfg, device: torch.device):
    """(dataset transform, batch -> two views on the device, description), as the trainer builds them."""
    transform, batchAugment = build_augmentation(cfg.data, device)

    def views(items):
        return views_on_device(items, batchAugment, device)

    where = (f"batched augmentation on {device.type}" if batchAugment is not None
             else f"{transform.backend} augmentation in the workers")
    return transform, views, where


def run_mode(cfg, mode, device, loader, views, batch, steps):
    """Images/s of the trainer's own step (``train.step.TrainStep``) on one reused batch and on the loader."""
    torch.manual_seed(0)
    model = build_model(cfg.model).to(device)
    channelsLast = "channels_last" in mode
    if channelsLast:
        model = model.to(memory_format=torch.channels_last)
    forward = torch.compile(model) if "compile" in mode else model
    opt = build_optimizer("Adam", model.get_params(cfg.optimizer.lr), cfg.optimizer.lr, 0.0, 0.9)
    step = TrainStep(forward, NTXent(cfg.loss.temperature), opt, torch.amp.GradScaler(device.type, enabled=False),
                     device, useAmp="bf16" in mode, ampDtype=torch.bfloat16, channelsLast=channelsLast)
    stream = batches(loader)
    fixed = [views(next(stream)[0]), None]   # two views already on the device: the data path excluded
    for _ in range(3 if "compile" in mode else 2):  # warm-up (and compilation)
        step(fixed)
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step(fixed)
    sync(device)
    without = steps * batch / (time.perf_counter() - start)
    drain(stream, loader)
    start = time.perf_counter()
    for _ in range(steps):
        step([views(next(stream)[0]), None])
    sync(device)
    with_data = steps * batch / (time.perf_counter() - start)
    return without, with_data


def training_loader(cfg, data, batch: int, workers: int, device: torch.device) -> DataLoader:
    """The trainer's training DataLoader (``train.builders.make_loader`` with its epoch sampler)."""
    return make_loader(data, batch, workers, device, sampler=EpochSampler(len(data), seed=cfg.general.seed),
                       generator=torch.Generator().manual_seed(0), train=True)


def batches(loader: DataLoader) -> Iterator:
    """The loader's batches, epoch after epoch."""
    while True:
        yield from loader


def drain(stream: Iterator, loader: DataLoader) -> None:
    """Take the batches the workers have queued, so that what follows is timed at their steady rate."""
    for _ in range(loader.num_workers * (loader.prefetch_factor or 0) + 1):
        next(stream)


def data_only(loader: DataLoader, views, device: torch.device, batch: int, steps: int) -> float:
    """Images/s of the data path alone: next batch, both views on the device."""
    stream = batches(loader)
    drain(stream, loader)
    steps = max(steps, 4 * loader.num_workers)  # several batches per worker, for a steady rate
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        views(next(stream)[0])
    sync(device)
    return steps * batch / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-l", "--load", required=True)
    parser.add_argument("--opts", nargs="+", default=[])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, help="override train.trainBatch")
    parser.add_argument("--modes", nargs="*", default=list(MODES), choices=MODES, help="none: data path only")
    parser.add_argument("--data-workers", type=int, nargs="*", default=[],
                        help="also time the data path alone with these worker counts")
    args = parser.parse_args()
    cfg = load_config(args.load, args.opts)
    device = torch.device(args.device)
    batch = args.batch or cfg.train.trainBatch
    d = cfg.data
    transform, views, augmentation = view_maker(cfg, device)
    data, source = training_data(cfg, transform, minimum=max(batch * (args.steps + 4), 20000))
    if any(n < 0 for n in args.data_workers):
        parser.error(f"--data-workers {args.data_workers}: worker counts must be >= 0")
    loader = training_loader(cfg, data, batch, d.numWorkers, device)
    print(f"# training step, {args.load}: batch {batch}, {d.imgSize} px, {d.numWorkers} workers, {augmentation} | "
          f"{device_name(device)} | {versions()}")
    print(f"# data: {source}")
    rows = []
    for mode in args.modes:
        try:
            without, with_data = run_mode(cfg, mode, device, loader, views, batch, args.steps)
        except Exception as err:  # e.g. torch.compile without a compiler
            rows.append([mode, f"failed: {type(err).__name__}", "", "", ""])
            continue
        rows.append([mode, f"{without:.0f}", f"{with_data:.0f}", f"{50000 / without:.1f}",
                     f"{50000 / with_data:.1f}"])
    print(table(["mode", "img/s, data excluded", "img/s, data included",
                 "CIFAR-10 epoch s (excl.)", "CIFAR-10 epoch s (incl.)"], rows))

    dataRows, fastest = [], max((float(r[1]) for r in rows if r[1][:1].isdigit()), default=None)
    for workers in dict.fromkeys([d.numWorkers, *args.data_workers]):
        rate = data_only(loader if workers == d.numWorkers else training_loader(cfg, data, batch, workers, device),
                         views, device, batch, args.steps)
        if fastest is None:
            verdict = ""
        elif workers == 0:
            verdict = "in series with the model (no workers)"
        else:
            verdict = "no" if rate >= fastest else f"yes ({rate / fastest:.2f}x)"
        dataRows.append([workers, f"{rate:.0f}", f"{50000 / rate:.1f}", verdict])
    verdictNote = ("" if fastest is None else
                   f"; bottleneck = slower than the fastest mode's {fastest:.0f} img/s with data excluded")
    print(f"\n# data path alone ({augmentation}, two views on {device.type}){verdictNote}")
    print(table(["workers", "img/s", "CIFAR-10 epoch s", "bottleneck"], dataRows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
