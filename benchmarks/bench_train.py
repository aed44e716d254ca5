"""Training-step throughput for an experiment YAML: fp32 vs autocast vs channels_last vs torch.compile.

    python benchmarks/bench_train.py -l assets/experiments/base_simclr.yaml --steps 20
    python benchmarks/bench_train.py -l assets/experiments/quickstart.yaml --device cpu

Each mode is assembled by the trainer itself (``train.trainer.SimCLRTrainer`` from the YAML
with the mode's ``general.amp`` / ``general.channelsLast`` / ``general.compile``, in a
temporary run folder): the device it enters, its precision, model, optimizer, loader and
optimizer step (``trainer.step``) are the ones a training run uses. Timed per mode: images/s
of that step with the data path excluded (one augmented batch reused, on the device) and
included (the trainer's DataLoader), and the CIFAR-10 epoch (50,000 images) this gives. The
data path alone (loading, two-view augmentation, collation, copy to the device; no model) is
timed too, for the config's worker count and for each count given to ``--data-workers``:
when it delivers fewer images/s than the model takes, augmentation is the bottleneck. The
real dataset is used when it is on disk; otherwise ``data.dataset Synthetic`` (random uint8
images of CIFAR-10's shape; the output says so). On the CPU ``general.amp`` and
``general.channelsLast`` change nothing (they are CUDA-only), so the first modes coincide.
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, List

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from benchmarks.machine import device_name, versions  # noqa: E402
from benchmarks.timing import sync, table  # noqa: E402
from core.data.datasets import DatasetError, build_dataset  # noqa: E402
from train.augmentation_setup import views_on_device  # noqa: E402
from train.builders import make_loader  # noqa: E402
from train.config import load_config  # noqa: E402

MODES = ("fp32", "bf16", "bf16+channels_last", "bf16+channels_last+compile")


def mode_opts(mode: str) -> List[str]:
    """The config values of a mode ('bf16' = ``general.amp``: bf16 where the GPU has it, else fp16)."""
    return ["general.amp", str("bf16" in mode), "general.channelsLast", str("channels_last" in mode),
            "general.compile", str("compile" in mode)]


def data_source(cfg) -> List[str]:
    """No options when the configured training split is on disk; else the synthetic stand-in's."""
    try:
        build_dataset(cfg.data.dataset, "train", root=cfg.data.rootPath, download=False,
                      valFraction=cfg.data.valFraction)
        return []
    except (DatasetError, ValueError):
        return ["data.dataset", "Synthetic"]


def build_trainer(args, mode: str, runs: Path, extra: List[str]):
    """The trainer of ``-l``/``--opts`` for ``mode``, writing only under ``runs``, with no evaluation."""
    from train.trainer import SimCLRTrainer

    opts = [*args.opts, *extra, *mode_opts(mode), "general.device", args.device, "general.name", mode.replace("+", "_"),
            "general.logsDir", str(runs / "logs"), "general.saveDir", str(runs / "ckpt"),
            "log.evalAtStart", "False", "log.imagePairs", "0", "log.embeddingSamples", "0", "log.tsneSamples", "0"]
    if args.batch:
        opts += ["train.trainBatch", str(args.batch)]
    return SimCLRTrainer(load_config(args.load, opts))


def run_mode(trainer, steps: int):
    """Images/s of the trainer's own step on one reused batch and on its DataLoader."""
    device, batch = trainer.device, trainer.cfg.train.trainBatch
    stream = batches(trainer.trainLoader)
    first = next(stream)[0]     # the data path excluded: one batch reused, on the device (as the loader gives it:
    # uint8 images when the step augments them on the device, else the two views)
    fixed = [first.to(device) if trainer.batchAugment is not None else views_on_device(first, None, device), None]
    for _ in range(3 if trainer.cfg.general.compile else 2):  # warm-up (and compilation)
        trainer.step(fixed)
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step(fixed)
    sync(device)
    without = steps * batch / (time.perf_counter() - start)
    drain(stream, trainer.trainLoader)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step(next(stream))
    sync(device)
    withData = steps * batch / (time.perf_counter() - start)
    return without, withData


def batches(loader: DataLoader) -> Iterator:
    """The loader's batches, epoch after epoch."""
    while True:
        yield from loader


def drain(stream: Iterator, loader: DataLoader) -> None:
    """Take the batches the workers have queued, so that what follows is timed at their steady rate."""
    for _ in range(loader.num_workers * (loader.prefetch_factor or 0) + 1):
        next(stream)


def data_only(loader: DataLoader, batchAugment, device: torch.device, batch: int, steps: int) -> float:
    """Images/s of the data path alone: next batch, both views on the device."""
    stream = batches(loader)
    drain(stream, loader)
    steps = max(steps, 4 * loader.num_workers)  # several batches per worker, for a steady rate
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        views_on_device(next(stream)[0], batchAugment, device)
    sync(device)
    return steps * batch / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-l", "--load", required=True)
    parser.add_argument("--opts", nargs="+", default=[])
    parser.add_argument("--device", default="cuda", help="general.device (cuda falls back to the CPU without one)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, help="override train.trainBatch")
    parser.add_argument("--modes", nargs="*", default=list(MODES), choices=MODES, help="none: data path only")
    parser.add_argument("--data-workers", type=int, nargs="*", default=[],
                        help="also time the data path alone with these worker counts")
    args = parser.parse_args()
    if any(n < 0 for n in args.data_workers):
        parser.error(f"--data-workers {args.data_workers}: worker counts must be >= 0")
    logging.getLogger("simclr").setLevel(logging.WARNING)
    cfg = load_config(args.load, args.opts)
    configured, extra = cfg.data.dataset, data_source(cfg)
    rows, fastest = [], None
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        for index, mode in enumerate(args.modes or ["fp32"]):
            trainer = build_trainer(args, mode, Path(tmp) / str(index), extra)
            try:
                if index == 0:
                    d, batch = trainer.cfg.data, trainer.cfg.train.trainBatch
                    augmentation = (f"batched augmentation on {trainer.device.type}" if trainer.batchAugment
                                    else f"{trainer.augment.backend} augmentation in the workers")
                    if trainer.dataNote:
                        print(f"# {trainer.dataNote}")
                    print(f"# training step, {args.load}: batch {batch}, {d.imgSize} px, {d.numWorkers} workers, "
                          f"{augmentation} | {device_name(trainer.device)} | {versions()}")
                    source = (f"SYNTHETIC uint8 32x32 images ({configured} not on disk)" if extra
                              else f"real {configured}")
                    print(f"# data: {source}, {len(trainer.trainSet)} training images")
                    first = trainer
                if not args.modes:
                    break
                without, withData = run_mode(trainer, args.steps)
                fastest = max(fastest or 0.0, without)
                rows.append([mode, f"{trainer.device}{trainer.precision.describe()}", f"{without:.0f}",
                             f"{withData:.0f}", f"{50000 / without:.1f}", f"{50000 / withData:.1f}"])
            except Exception as err:  # e.g. torch.compile without a compiler
                rows.append([mode, f"failed: {type(err).__name__}: {str(err).splitlines()[0][:80]}", "", "", "", ""])
            finally:
                if trainer is not first:
                    trainer.close()
        if rows:
            print(table(["mode", "ran as", "img/s, data excluded", "img/s, data included",
                         "CIFAR-10 epoch s (excl.)", "CIFAR-10 epoch s (incl.)"], rows))
        dataRows = []
        kept = not isinstance(first.trainLoader, DataLoader)      # DeviceBatches: the images are on the device
        source = first.trainSet if kept else first.trainLoader.dataset
        for workers in dict.fromkeys([d.numWorkers, *args.data_workers]):
            loader = (first.trainLoader if workers == d.numWorkers else
                      make_loader(source, batch, workers, first.device, sampler=first.sampler,
                                  generator=torch.Generator().manual_seed(0), train=True))
            rate = data_only(loader, first.batchAugment, first.device, batch, args.steps)
            if fastest is None:
                verdict = ""
            elif workers == 0 or kept and loader is first.trainLoader:
                verdict = "in series with the model (no workers)"
            else:
                verdict = "no" if rate >= fastest else f"yes ({rate / fastest:.2f}x)"
            label = f"kept on {first.device.type} (uint8)" if kept and loader is first.trainLoader else workers
            dataRows.append([label, f"{rate:.0f}", f"{50000 / rate:.1f}", verdict])
        first.close()
    verdictNote = ("" if fastest is None else
                   f"; bottleneck = slower than the fastest mode's {fastest:.0f} img/s with data excluded")
    print(f"\n# data path alone ({augmentation}, two views on {first.device.type}){verdictNote}")
    print(table(["workers", "img/s", "CIFAR-10 epoch s", "bottleneck"], dataRows))
    broken = [row[0] for row in rows if row[1].startswith("failed") and "compile" not in row[0]]
    return 1 if broken else 0      # torch.compile may lack a compiler; the other modes must run


if __name__ == "__main__":
    raise SystemExit(main())
