"""Few-label fine-tuning: the pretrained encoder plus a linear head, trained on K labels per class.

    python train/finetune.py --ckpt assets/checkpoints/quickstart --labels-per-class 10 --no-flip
    python train/finetune.py --ckpt assets/checkpoints/quickstart --labels-per-class 10 --no-flip --random-init
    python train/finetune.py --ckpt assets/checkpoints/quickstart/checkpoint_epoch0080.pt --fraction 0.1

The semi-supervised protocol of the SimCLR paper (Sec. 6, Table 7; Appendix B.5):
the whole network is trained (not frozen) with a new linear layer on a small
labeled subset, with light augmentation only (random crop + horizontal flip),
Nesterov momentum 0.9, learning rate 0.05 x batch / 256, no weight decay. The
same labels are used with ``--random-init``: the same architecture trained from
scratch, the baseline pretraining must beat. ``--frozen`` trains the linear layer
alone (the encoder in eval mode), on the same augmented images. Top-1 (and top-5)
on the test split go to stdout and, named after the checkpoint, to
``<run>/finetune_<checkpoint>_<K>_per_class[_frozen].json`` (``--labels-per-class K``) or
``<run>/finetune_<checkpoint>_<F>_of_labels[_frozen].json`` (``--fraction F``, e.g. ``0p1``),
and to TensorBoard (``<run>/finetune/``). The model, its training and its score are
``core.eval.classifier``'s, the path the linear probe takes too.
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

from train.cli import hold_stop_signals  # noqa: E402

if __name__ == "__main__":
    hold_stop_signals()     # a stop while torch loads is answered by guarded, in one line

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import Subset  # noqa: E402
from torchvision.transforms import v2  # noqa: E402

from core.data.data_augmentation import IMAGENET_MEAN, IMAGENET_STD, EvalTransform, image_size  # noqa: E402
from core.errors import UserInputError  # noqa: E402
from core.eval.classifier import LinearClassifier, classifier_scores, feature_stats, fit_end_to_end  # noqa: E402
from core.eval.subsets import capped_subset, few_labels  # noqa: E402
from core.nn.utils.randomness import seed_everything  # noqa: E402
from train.builders import config_value, dataset_from_config, make_loader  # noqa: E402
from train.cli import encoder_flags, guarded  # noqa: E402
from train.encoder_setup import encoder_from_args, split_features, split_labels  # noqa: E402
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
    parser.add_argument("--frozen", action="store_true",
                        help="train only the linear layer, on standardized features; the encoder stays frozen")
    return parser


MAX_LR = float(torch.finfo(torch.float32).max)   # a rate the float32 optimizer can hold (1e308 overflows it)


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
    if args.lr is not None and args.lr > MAX_LR:
        return f"--lr {args.lr} must be at most {MAX_LR:.3g} (a float32)"
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


def main(argv: Optional[List[str]] = None) -> int:
    args = get_args_parser().parse_args(argv)
    return guarded(args, lambda: run(args))


def run(args: argparse.Namespace) -> int:
    """The fine-tuning of ``args`` (see ``main``); the result path is checked before anything is computed."""
    problem = check_args(args)
    if problem:
        raise UserInputError(problem)
    progress = sys.stderr.isatty()
    cfg, device, encoder, threads, governor = encoder_from_args(args, frozen=args.frozen)
    tag = labels_tag(args.labels_per_class, args.fraction) + ("_frozen" if args.frozen else "")
    stem = result_stem("finetune", args.ckpt, args.random_init, tag)
    check_result_paths(run_folders(cfg)[0], "finetune", stem, args.force)
    labels = split_labels(cfg, "memory").numpy()
    keep = config_value("--labels-per-class", lambda: labeled_subset(labels, args.labels_per_class,
                                                                     args.fraction))
    trainSet = Subset(dataset_from_config(cfg.data, "memory", finetune_transform(
        cfg.data.imgSize, args.min_scale, not args.no_flip)), keep.tolist())
    testSet = dataset_from_config(cfg.data, "test", EvalTransform(cfg.data.imgSize))
    seed_everything(cfg.general.seed)
    classes = int(labels.max()) + 1
    mean = std = None
    if args.frozen:       # standardized features, as the probe's: from the labeled images, unaugmented
        mean, std = (t.float() for t in feature_stats(split_features(cfg, encoder, "memory", device, keep,
                                                                     progress)[0]))
    model = LinearClassifier(encoder, encoder.outChNo, classes, frozen=args.frozen, mean=mean, std=std).to(device)
    batch = min(args.batch, len(keep))
    lr = args.lr if args.lr is not None else 0.05 * batch / 256
    generator = torch.Generator().manual_seed(cfg.general.seed)
    loader = make_loader(trainSet, batch, cfg.data.numWorkers, device, generator=generator, shuffle=True,
                         dropLast=len(keep) > batch)
    start = time.perf_counter()
    losses = fit_end_to_end(model, loader, device, args.epochs, lr, progress, governor)
    testLoader = make_loader(testSet, cfg.train.valBatch, cfg.data.numWorkers, device)
    scores = classifier_scores(model, testLoader, device)
    result = {
        "encoder": "random-init" if args.random_init else str(args.ckpt), "dataset": cfg.data.dataset,
        "labels_per_class": args.labels_per_class, "fraction": args.fraction, "labeled_size": len(keep),
        "test_size": len(testSet), "epochs": args.epochs, "batch": batch, "lr": lr, "min_scale": args.min_scale,
        "flip": not args.no_flip, "frozen": args.frozen,
        "finetune_top1": scores["top1"], "finetune_top5": scores["top5"],
        "final_train_loss": losses[-1], "threads": governor.threads if governor is not None else threads,
        "seconds": round(time.perf_counter() - start, 2),
    }
    out = write_result(run_folders(cfg)[0], "finetune", stem, result,
                       {"top1": scores["top1"], "top5": scores["top5"]}, {"train_loss": losses})
    what = "trained a linear layer on frozen" if args.frozen else "fine-tuned"
    print(f"{what} {result['encoder']} on {len(keep)} labeled {cfg.data.dataset} images "
          f"({args.epochs} epochs, batch {batch}, lr {lr:.4g}, {result['seconds']:.1f} s)")
    print(f"  {'finetune_top1':<20} {scores['top1']:.4f}\n  {'finetune_top5':<20} {scores['top5']:.4f}")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
