"""Our ResNet-18 vs. torchvision's resnet18 configured identically: forward+backward images/s.

    python benchmarks/bench_encoder.py [--batch 32] [--device cpu]

Two configurations: the ImageNet stem (7x7 stride-2 conv + max pool) at 64 px and
the CIFAR stem (3x3 stride-1 conv, no pool) at 32 px, both full width (64).
torchvision's model gets the same stem and an identity ``fc``. Target: ours
takes at most 1.05x torchvision's time.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
import torchvision  # noqa: E402
from torch import nn  # noqa: E402

from benchmarks.machine import device_name, versions  # noqa: E402
from benchmarks.timing import median_seconds, table  # noqa: E402
from core.nn.networks import ResNet  # noqa: E402

CONFIGS = {
    "ImageNet stem, 64 px": (64, dict(firstKernelSize=7, strides=[2, 2, 1, 2, 2, 2])),
    "CIFAR stem, 32 px": (32, dict(firstKernelSize=3, strides=[1, 1, 1, 2, 2, 2])),
}


def torchvision_model(cifar: bool) -> nn.Module:
    model = torchvision.models.resnet18()
    if cifar:
        model.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        model.maxpool = nn.Identity()
    model.fc = nn.Identity()
    return model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"# ResNet-18 forward+backward, batch {args.batch} | {device_name(device)} | {versions()}")
    rows = []
    for label, (size, cfg) in CONFIGS.items():
        ours = ResNet(3, 512, **cfg).build().to(device)
        theirs = torchvision_model(cifar=size == 32).to(device)
        assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
        x = torch.randn(args.batch, 3, size, size, device=device)
        times = {}
        for name, model in (("ours", ours), ("torchvision", theirs)):
            def step(model=model):
                model.zero_grad(set_to_none=True)
                model(x).sum().backward()
            times[name] = median_seconds(step, device, repeats=args.repeats)
        ratio = times["ours"] / times["torchvision"]
        rows.append([label, f"{args.batch / times['ours']:.1f}", f"{args.batch / times['torchvision']:.1f}",
                     f"{ratio:.3f}", "yes" if ratio <= 1.05 else "no"])
    print(table(["config", "ours img/s", "torchvision img/s", "time ours/tv", "<= 1.05x"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
