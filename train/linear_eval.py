"""Linear evaluation of a pretrained encoder (and the baselines it must beat).

    python train/linear_eval.py --ckpt assets/checkpoints/quickstart/checkpoint_epoch0080.pt
    python train/linear_eval.py --ckpt assets/checkpoints/quickstart          # the exported encoder
    python train/linear_eval.py -l assets/experiments/quickstart.yaml --random-init
    python train/linear_eval.py --ckpt assets/checkpoints/quickstart --labels-per-class 10

The config comes with the checkpoint (a training checkpoint stores it; the
exported encoder's folder holds the run's config.yaml); ``-l`` and ``--opts``
only override it.

The encoder is frozen (eval mode, no gradients); features of the labeled train
split and of the test split are extracted once; a linear layer on standardized
features is fitted (L2-regularized logistic regression, L-BFGS) and scored
(top-1, top-5): ``core.eval.classifier``'s frozen path, the one fine-tuning
takes unfrozen. A kNN is scored on the same labeled images. With ``--labels-per-class K`` both see only K labels per
class. The raw-pixel baseline (``--pixels off`` to skip) fits the same probe on
at most 2,000 labeled / 5,000 test images (stratified subsets), which keeps it
to seconds; its size and time are printed. Results go to stdout and, named
after the checkpoint, to ``<run>/linear_eval_<checkpoint>[_K_per_class].json``
and TensorBoard (``<run>/linear_eval/``).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import List, Optional, Tuple

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from train.cli import hold_stop_signals  # noqa: E402

if __name__ == "__main__":
    hold_stop_signals()     # a stop while torch loads is answered by guarded, in one line

import numpy as np  # noqa: E402
import torch  # noqa: E402

from core.errors import UserInputError  # noqa: E402
from core.eval.knn import knn_top1  # noqa: E402
from core.eval.classifier import linear_probe  # noqa: E402
from core.eval.subsets import capped_subset, few_labels  # noqa: E402
from train.cli import encoder_flags, guarded  # noqa: E402
from train.builders import config_value  # noqa: E402
from train.encoder_setup import encoder_from_args, split_features, split_labels  # noqa: E402
from train.run_folder import run_folders  # noqa: E402
from train.results import check_result_paths, labels_tag, result_stem, write_result  # noqa: E402

PIXEL_TRAIN_MAX = 2000   # the raw-pixel baseline fits on at most this many labeled images (stratified)
PIXEL_TEST_MAX = 5000    # ... and is scored on at most this many test images (stratified)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Linear probe of a frozen SimCLR encoder.", parents=[encoder_flags()])
    parser.add_argument("--labels-per-class", type=int, metavar="K", help="few-label mode: K labels per class")
    parser.add_argument("--pixels", choices=("on", "off", "auto"), default="on",
                        help=f"also fit the raw-pixel baseline, on a stratified subset of at most {PIXEL_TRAIN_MAX} "
                             f"labeled / {PIXEL_TEST_MAX} test images (default on; auto, of earlier versions, = on)")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = get_args_parser().parse_args(argv)
    return guarded(args, lambda: run(args))


def run(args) -> int:
    """The probe of ``args`` (see ``main``); the result path is checked before anything is computed."""
    if args.labels_per_class is not None and args.labels_per_class < 1:
        raise UserInputError(f"--labels-per-class {args.labels_per_class} must be >= 1")
    progress = sys.stderr.isatty()
    cfg, device, encoder, _, _ = encoder_from_args(args)
    labeled = None
    if args.labels_per_class:   # the probe and the kNN both see only these labels
        labeled = config_value("--labels-per-class", lambda: few_labels(
            split_labels(cfg, "memory").numpy(), args.labels_per_class, seed=0))
    check_result_paths(run_folders(cfg)[0], "linear_eval", result_stem(
        "linear_eval", args.ckpt, args.random_init, labels_tag(args.labels_per_class)), args.force)
    start = time.perf_counter()
    trainFeats, trainLabels = split_features(cfg, encoder, "memory", device, progress=progress)
    testFeats, testLabels = split_features(cfg, encoder, "test", device, progress=progress)
    labeled = np.arange(len(trainLabels)) if labeled is None else labeled
    result = {
        "encoder": "random-init" if args.random_init else str(args.ckpt),
        "dataset": cfg.data.dataset, "train_size": len(trainLabels), "test_size": len(testLabels),
        "labels_per_class": args.labels_per_class,
    }
    probe = linear_probe(trainFeats[labeled], trainLabels[labeled], testFeats, testLabels, progress=progress,
                         device=device)
    result.update(linear_top1=probe["top1"], linear_top5=probe["top5"], probe_train_size=probe["train_size"])
    result["knn_top1"] = knn_top1(trainFeats[labeled], trainLabels[labeled], testFeats, testLabels,
                                  cfg.log.knnK, cfg.log.knnT)
    result["seconds"] = round(time.perf_counter() - start, 2)
    if args.pixels != "off":
        pixels, trainIdx, testIdx = pixel_baseline(cfg, trainLabels.numpy()[labeled], labeled, testLabels.numpy(),
                                                   progress, device)
        result.update(pixels)
        if pixels["pixels_capped"]:   # equal terms: the probe of h again, on exactly the pixels' images
            same = linear_probe(trainFeats[trainIdx], trainLabels[trainIdx], testFeats[testIdx], testLabels[testIdx],
                                progress=progress, device=device)
            result.update(same_images_linear_top1=same["top1"], same_images_linear_top5=same["top5"])
    write_results(cfg, args, result)
    return 0


def pixel_baseline(cfg, labels: np.ndarray, labeled: np.ndarray, testLabels: np.ndarray,
                   progress: bool, device: torch.device) -> Tuple[dict, np.ndarray, np.ndarray]:
    """The same probe on raw pixels, on capped stratified subsets (the images are decoded again, flattened).

    Returns:
        The result fields, and the labeled and test indices it used (the probe of ``h`` is fitted on
        the same ones when they are capped, so the two numbers compare).
    """
    start = time.perf_counter()
    trainIdx = labeled[capped_subset(labels, PIXEL_TRAIN_MAX)]
    testIdx = capped_subset(testLabels, PIXEL_TEST_MAX)
    flatten = torch.nn.Flatten().eval()
    pixTrain, pixTrainLabels = split_features(cfg, flatten, "memory", torch.device("cpu"), trainIdx, progress)
    pixTest, pixTestLabels = split_features(cfg, flatten, "test", torch.device("cpu"), testIdx, progress)
    pixels = linear_probe(pixTrain, pixTrainLabels, pixTest, pixTestLabels, progress=progress, device=device)
    return ({"pixels_linear_top1": pixels["top1"], "pixels_linear_top5": pixels["top5"],
             "pixels_train_size": len(trainIdx), "pixels_test_size": len(testIdx),
             "pixels_capped": bool(len(trainIdx) < len(labeled) or len(testIdx) < len(testLabels)),
             "pixels_seconds": round(time.perf_counter() - start, 2)}, trainIdx, testIdx)


def write_results(cfg, args, result: dict) -> None:
    """Print a table; write JSON and TensorBoard scalars into the run folder, named after the checkpoint."""
    print(f"linear probe of {result['encoder']} on {result['dataset']} "
          f"({result['probe_train_size']} labeled train / {result['test_size']} test images, "
          f"{result['seconds']:.1f} s)")
    for key in ("linear_top1", "linear_top5", "knn_top1"):
        print(f"  {key:<20} {result[key]:.4f}")
    if "pixels_linear_top1" in result:
        print(f"  raw-pixel baseline: logistic regression on {result['pixels_train_size']} labeled / "
              f"{result['pixels_test_size']} test images{' (capped, stratified)' if result['pixels_capped'] else ''}, "
              f"{result['pixels_seconds']:.1f} s")
        for key in ("pixels_linear_top1", "pixels_linear_top5"):
            print(f"  {key:<20} {result[key]:.4f}")
        if "same_images_linear_top1" in result:
            print("  the probe of h on those same images (compare with the pixels on equal terms):")
            for key in ("same_images_linear_top1", "same_images_linear_top5"):
                print(f"  {key:<20} {result[key]:.4f}")
    stem = result_stem("linear_eval", args.ckpt, args.random_init, labels_tag(args.labels_per_class))
    scalars = {key: result[key] for key in ("linear_top1", "linear_top5", "knn_top1", "pixels_linear_top1")
               if key in result}
    out = write_result(run_folders(cfg)[0], "linear_eval", stem, result, scalars)
    print(f"results: {out}")


if __name__ == "__main__":
    raise SystemExit(main())
