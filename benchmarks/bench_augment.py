"""Two-view augmentation throughput: our backends vs. lightly vs. a plain torchvision PIL pipeline.

    python benchmarks/bench_augment.py [--images 512]

Images/s (one image -> two views) at 32 px and 96 px, in the main process and
through a DataLoader with 2 workers, on random uint8 images stored as PIL
images (what CIFAR/ImageFolder datasets hand to the transform).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from train.builders import make_loader  # noqa: E402
from torchvision import transforms as T  # noqa: E402

from benchmarks.machine import cpu_name, versions  # noqa: E402
from benchmarks.timing import table  # noqa: E402
from core.data.data_augmentation import IMAGENET_MEAN, IMAGENET_STD, ImageTransforms  # noqa: E402
from core.data.datasets import ArrayImages  # noqa: E402


class TwoViews:
    """Apply a one-view transform twice (for the reference pipelines)."""

    def __init__(self, view):
        self.view = view

    def __call__(self, image):
        return self.view(image), self.view(image)


def plain_pil_pipeline(size: int):
    """The classic torchvision (v1) PIL recipe many SimCLR repos use."""
    s = 0.5
    return TwoViews(T.Compose([
        T.RandomResizedCrop(size), T.RandomHorizontalFlip(),
        T.RandomApply([T.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s)], p=0.8),
        T.RandomGrayscale(p=0.2), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]))


def lightly_pipeline(size: int):
    from lightly.transforms import SimCLRTransform

    return SimCLRTransform(input_size=size, cj_strength=0.5, gaussian_blur=0.0 if size < 64 else 0.5)


def pipelines(size: int):
    found = {
        "ours (torchvision)": ImageTransforms(size, backend="torchvision", jitterStrength=0.5),
        "ours (albumentations)": ImageTransforms(size, backend="albumentations", jitterStrength=0.5),
        "plain torchvision PIL": plain_pil_pipeline(size),
    }
    try:
        found["lightly SimCLRTransform"] = lightly_pipeline(size)
    except ImportError:
        pass
    return found


def rate_single(transform, dataset, count) -> float:
    start = time.perf_counter()
    for i in range(count):
        transform(dataset[i % len(dataset)][0])
    return count / (time.perf_counter() - start)


def rate_loader(transform, images, count, workers=2) -> float:
    data = ArrayImages(images, np.zeros(len(images), np.int64), transform)
    loader = make_loader(data, 64, workers, torch.device("cpu"))
    next(iter(loader))  # start-up excluded
    start = time.perf_counter()
    seen = 0
    for batch in loader:
        seen += batch[1].shape[0]
    return seen / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512, help="images per measurement")
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 96])
    args = parser.parse_args()
    torch.set_num_threads(1)  # augmentation runs one image at a time; workers give the parallelism
    print(f"# two-view augmentation, images/s | {cpu_name()} | {versions()}")
    rows = []
    for size in args.sizes:
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (args.images, size, size, 3), dtype=np.uint8)
        pilData = ArrayImages(images, np.zeros(len(images), np.int64))
        for name, transform in pipelines(size).items():
            single = rate_single(transform, pilData, args.images)
            loader = rate_loader(transform, images, args.images)
            rows.append([size, name, f"{single:.0f}", f"{loader:.0f}"])
    print(table(["px", "pipeline", "1 process img/s", "DataLoader 2 workers img/s"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
