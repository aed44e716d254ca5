"""Linear evaluation of a pretrained encoder (and the baselines it must beat).

    python train/linear_eval.py --ckpt assets/checkpoints/quickstart/checkpoint_epoch0080.pt
    python train/linear_eval.py --ckpt assets/checkpoints/quickstart          # the exported encoder
    python train/linear_eval.py -l assets/experiments/quickstart.yaml --random-init
    python train/linear_eval.py --ckpt assets/checkpoints/quickstart --labels-per-class 10

The config comes with the checkpoint (a training checkpoint stores it; the
exported encoder's folder holds the run's config.yaml); ``-l`` and ``--opts``
only override it.

The encoder is frozen (eval mode, no gradients); features of the labeled train
split and of the test split are extracted once; a logistic regression on
standardized features is fitted and scored (top-1, top-5). Results go to
stdout, TensorBoard (``eval/linear_top1``...) and a JSON file in the run folder.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import List, Optional

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from core.errors import UserInputError  # noqa: E402
from core.eval.knn import knn_top1  # noqa: E402
from core.eval.linear_probe import linear_probe  # noqa: E402
from train.evaluation import frozen_encoder_from_args, run_folder, split_features  # noqa: E402

PIXEL_BASELINE_MAX = 20_000_000  # N x D above which the raw-pixel baseline is skipped (too slow)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Linear probe of a frozen SimCLR encoder.")
    parser.add_argument("-l", "--load", "--config", dest="load", metavar="YAML",
                        help="override the config stored with --ckpt (needed with --random-init)")
    parser.add_argument("--ckpt", help="checkpoint_epochNNNN.pt, or the exported encoder.pt / its folder")
    parser.add_argument("--random-init", action="store_true", help="evaluate the untrained architecture")
    parser.add_argument("--labels-per-class", type=int, metavar="K", help="few-label mode: K labels per class")
    parser.add_argument("--pixels", choices=("auto", "on", "off"), default="auto",
                        help="also fit the raw-pixel baseline (auto: only for small datasets)")
    parser.add_argument("--opts", nargs="+", default=[], metavar="KEY VALUE", help="config overrides")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks for input errors")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = get_args_parser().parse_args(argv)
    if args.labels_per_class is not None and args.labels_per_class < 1:
        print(f"error: --labels-per-class {args.labels_per_class} must be >= 1", file=sys.stderr)
        return 2
    try:
        cfg, device, encoder = frozen_encoder_from_args(args)
        start = time.perf_counter()
        trainFeats, trainLabels = split_features(cfg, encoder, "memory", device)
        testFeats, testLabels = split_features(cfg, encoder, "test", device)
    except UserInputError as err:
        if args.debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    result = {
        "encoder": "random-init" if args.random_init else str(args.ckpt),
        "dataset": cfg.data.dataset, "train_size": len(trainLabels), "test_size": len(testLabels),
        "labels_per_class": args.labels_per_class,
    }
    probe = linear_probe(trainFeats, trainLabels, testFeats, testLabels, args.labels_per_class)
    result.update(linear_top1=probe["top1"], linear_top5=probe["top5"], probe_train_size=probe["train_size"])
    result["knn_top1"] = knn_top1(trainFeats, trainLabels, testFeats, testLabels, cfg.log.knnK, cfg.log.knnT)
    pixelsN = len(trainLabels) * 3 * cfg.data.imgSize ** 2
    if args.pixels == "on" or (args.pixels == "auto" and pixelsN <= PIXEL_BASELINE_MAX):
        identity = torch.nn.Flatten().eval()
        pixTrain, _ = split_features(cfg, identity, "memory", torch.device("cpu"))
        pixTest, _ = split_features(cfg, identity, "test", torch.device("cpu"))
        pixels = linear_probe(pixTrain, trainLabels, pixTest, testLabels, args.labels_per_class)
        result.update(pixels_linear_top1=pixels["top1"], pixels_linear_top5=pixels["top5"])
    result["seconds"] = round(time.perf_counter() - start, 2)
    write_results(cfg, args, result)
    return 0


def write_results(cfg, args, result: dict) -> None:
    """Print a table; write JSON and TensorBoard scalars into the run folder."""
    from torch.utils.tensorboard import SummaryWriter

    print(f"linear probe of {result['encoder']} on {result['dataset']} "
          f"({result['probe_train_size']} labeled train / {result['test_size']} test images)")
    for key in ("linear_top1", "linear_top5", "knn_top1", "pixels_linear_top1", "pixels_linear_top5"):
        if key in result:
            print(f"  {key:<20} {result[key]:.4f}")
    folder = run_folder(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = "_random_init" if args.random_init else ""
    suffix += f"_{args.labels_per_class}_per_class" if args.labels_per_class else ""
    out = folder / f"linear_eval{suffix}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    tag = "eval_random_init" if args.random_init else "eval"
    with SummaryWriter(str(folder / "linear_eval")) as writer:
        for key in ("linear_top1", "linear_top5"):
            writer.add_scalar(f"{tag}/{key}{suffix.replace('_random_init', '')}", result[key], 0)
    print(f"results: {out}")


if __name__ == "__main__":
    raise SystemExit(main())
