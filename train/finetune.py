"""Few-label fine-tuning: the pretrained encoder plus a linear head, trained on K labels per class.

    python train/finetune.py --ckpt assets/checkpoints/quickstart --labels-per-class 10 --no-flip
    python train/finetune.py --ckpt assets/checkpoints/quickstart --labels-per-class 10 --no-flip --random-init
    python train/finetune.py --ckpt assets/checkpoints/quickstart/checkpoint_epoch0080.pt --fraction 0.1

The semi-supervised protocol of the SimCLR paper (Sec. 6, Table 7; Appendix B.5):
the whole network is trained (not frozen) with a new linear layer on a small
labeled subset, with light augmentation only (random crop + horizontal flip),
Nesterov momentum 0.9, learning rate 0.05 x batch / 256, no weight decay. The
same labels are used with ``--random-init``: the same architecture trained from
scratch, the baseline pretraining must beat. Top-1 (and top-5) on the test split
go to stdout and, named after the checkpoint, to
``<run>/finetune_<checkpoint>_<K>_per_class.json`` (``--labels-per-class K``) or
``<run>/finetune_<checkpoint>_<F>_of_labels.json`` (``--fraction F``, e.g. ``0p1``), and
to TensorBoard (``<run>/finetune/``).
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import List, Optional

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import Subset  # noqa: E402
from torchvision.transforms import v2  # noqa: E402
from tqdm import tqdm  # noqa: E402

from core.data.data_augmentation import IMAGENET_MEAN, IMAGENET_STD, EvalTransform, image_size  # noqa: E402
from core.errors import UserInputError  # noqa: E402
from core.eval.accuracy import ranked_hits  # noqa: E402
from core.eval.subsets import capped_subset, few_labels  # noqa: E402
from core.nn.optim.schedulers import WarmupCosine  # noqa: E402
from core.nn.utils.runtime import seed_everything  # noqa: E402
from train.builders import config_value, dataset_from_config, make_loader  # noqa: E402
from train.cli import encoder_flags, report_input_error  # noqa: E402
from train.evaluation import encoder_from_args, split_labels  # noqa: E402
from train.run_folder import run_folders  # noqa: E402
from train.results import check_result_paths, labels_tag, result_stem, write_result  # noqa: E402


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Fine-tune a SimCLR encoder on a few labels per class.",
                                     parents=[encoder_flags()])
    labels = parser.add_mutually_exclusive_group(required=True)
    labels.add_argument("--labels-per-class", type=int, metavar="K", help="K labeled images per class")
    labels.add_argument("--fraction", type=float, metavar="F", help="a class-stratified fraction F of the labels")
    parser.add_argument("--epochs", type=int, default=60, help="passes over the labeled subset (paper: 60 for 1%%)")
    parser.add_argument("--batch", type=int, default=64, help="images per step")
    parser.add_argument("--lr", type=float, help="learning rate (default: 0.05 x batch / 256, as in the paper)")
    parser.add_argument("--min-scale", type=float, default=0.5, help="smallest random-crop area fraction")
    parser.add_argument("--no-flip", action="store_true", help="no horizontal flips (digits, text)")
    return parser


def check_args(args) -> Optional[str]:
    """The first bad argument as a one-line message, or None."""
    if args.labels_per_class is not None and args.labels_per_class < 1:
        return f"--labels-per-class {args.labels_per_class} must be >= 1"
    if args.fraction is not None and not 0 < args.fraction <= 1:
        return f"--fraction {args.fraction} must be in (0, 1]"
    if args.epochs < 1:
        return f"--epochs {args.epochs} must be >= 1"
    if args.batch < 2:
        return f"--batch {args.batch} must be >= 2 (BatchNorm trains on batch statistics)"
    if args.lr is not None and not (math.isfinite(args.lr) and args.lr > 0):
        return f"--lr {args.lr} must be a finite number > 0"
    if not 0 < args.min_scale <= 1:
        return f"--min-scale {args.min_scale} must be in (0, 1]"
    return None


def finetune_transform(imgSize, minScale: float, flip: bool) -> v2.Compose:
    """Light augmentation of fine-tuning: random resized crop (+ horizontal flip), normalized like evaluation."""
    return v2.Compose([
        v2.ToImage(),
        v2.RandomResizedCrop(image_size(imgSize), scale=(minScale, 1.0), antialias=True),
        v2.RandomHorizontalFlip(0.5 if flip else 0.0),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


def labeled_subset(labels: np.ndarray, perClass: Optional[int], fraction: Optional[float]) -> np.ndarray:
    """Indices of the labeled images: ``perClass`` per class, or a stratified ``fraction`` (at least one per class)."""
    if perClass:
        return few_labels(labels, perClass, seed=0)
    count = max(len(np.unique(labels)), int(round(fraction * len(labels))))
    return capped_subset(labels, count, seed=0)


class Classifier(nn.Module):
    """``encoder`` then a linear layer: ``[B, 3, H, W] -> [B, classes]``."""

    def __init__(self, encoder: nn.Module, features: int, classes: int):
        super().__init__()
        self.encoder, self.fc = encoder, nn.Linear(features, classes)

    def forward(self, x):
        return self.fc(self.encoder(x))


@torch.no_grad()
def accuracy(model: nn.Module, loader, device: torch.device) -> dict:
    """Top-1 / top-5 of ``model`` (eval mode) over ``loader``."""
    model.eval()
    top1 = top5 = total = 0
    for images, targets in loader:
        logits = model(images.to(device))
        hits = ranked_hits(logits.topk(min(5, logits.shape[1]), dim=1).indices.cpu().numpy(), targets.numpy())
        top1, top5, total = top1 + hits["top1"], top5 + hits["top5"], total + len(targets)
    return {"top1": top1 / max(total, 1), "top5": top5 / max(total, 1)}


def finetune(model: nn.Module, loader, device: torch.device, epochs: int, lr: float, progress: bool,
             governor=None) -> List[float]:
    """SGD (Nesterov, momentum 0.9, no weight decay), cosine decay per step; returns each epoch's mean loss.

    ``governor`` (``core.nn.utils.threads.ThreadGovernor``) re-decides the CPU threads between steps.
    """
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=0.0)
    total = epochs * len(loader)
    scheduler = WarmupCosine(optimizer, warmupSteps=0, totalSteps=total)       # the pretraining's schedule
    lossFn = nn.CrossEntropyLoss()
    losses = []
    for _ in tqdm(range(epochs), desc="fine-tuning", unit="epoch", disable=not progress, leave=False):
        model.train()
        running, steps = 0.0, 0
        for images, targets in loader:
            loss = lossFn(model(images.to(device)), targets.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            if governor is not None:
                governor.update()
            running, steps = running + float(loss.detach()), steps + 1
        losses.append(running / max(steps, 1))
    return losses


def main(argv: Optional[List[str]] = None) -> int:
    args = get_args_parser().parse_args(argv)
    problem = check_args(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    progress = sys.stderr.isatty()
    try:
        cfg, device, encoder, threads, governor = encoder_from_args(args, frozen=False)   # the whole network trains
        stem = result_stem("finetune", args.ckpt, args.random_init, labels_tag(args.labels_per_class, args.fraction))
        check_result_paths(run_folders(cfg)[0], "finetune", stem, args.force)
        labels = split_labels(cfg, "memory").numpy()
        keep = config_value("--labels-per-class", lambda: labeled_subset(labels, args.labels_per_class,
                                                                         args.fraction))
        trainSet = Subset(dataset_from_config(cfg.data, "memory", finetune_transform(
            cfg.data.imgSize, args.min_scale, not args.no_flip)), keep.tolist())
        testSet = dataset_from_config(cfg.data, "test", EvalTransform(cfg.data.imgSize))
    except UserInputError as err:
        return report_input_error(err, args)
    seed_everything(cfg.general.seed)
    classes = int(labels.max()) + 1
    model = Classifier(encoder, encoder.outChNo, classes).to(device)
    batch = min(args.batch, len(keep))
    lr = args.lr if args.lr is not None else 0.05 * batch / 256
    generator = torch.Generator().manual_seed(cfg.general.seed)
    loader = make_loader(trainSet, batch, cfg.data.numWorkers, device, generator=generator, shuffle=True,
                         dropLast=len(keep) > batch)
    start = time.perf_counter()
    losses = finetune(model, loader, device, args.epochs, lr, progress, governor)
    scores = accuracy(model, make_loader(testSet, cfg.train.valBatch, cfg.data.numWorkers, device), device)
    result = {
        "encoder": "random-init" if args.random_init else str(args.ckpt), "dataset": cfg.data.dataset,
        "labels_per_class": args.labels_per_class, "fraction": args.fraction, "labeled_size": len(keep),
        "test_size": len(testSet), "epochs": args.epochs, "batch": batch, "lr": lr, "min_scale": args.min_scale,
        "flip": not args.no_flip, "finetune_top1": scores["top1"], "finetune_top5": scores["top5"],
        "final_train_loss": losses[-1], "threads": governor.threads if governor is not None else threads,
        "seconds": round(time.perf_counter() - start, 2),
    }
    out = write_result(run_folders(cfg)[0], "finetune", stem, result,
                       {"top1": scores["top1"], "top5": scores["top5"]}, {"train_loss": losses})
    print(f"fine-tuned {result['encoder']} on {len(keep)} labeled {cfg.data.dataset} images "
          f"({args.epochs} epochs, batch {batch}, lr {lr:.4g}, {result['seconds']:.1f} s)")
    print(f"  {'finetune_top1':<20} {scores['top1']:.4f}\n  {'finetune_top5':<20} {scores['top5']:.4f}")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
