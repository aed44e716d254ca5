"""t-SNE figure of the representation h for any checkpoint.

    python train/tsne.py --ckpt assets/checkpoints/quickstart --out tsne.png
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.errors import UserInputError  # noqa: E402
from train.evaluation import frozen_encoder_from_args, split_features  # noqa: E402


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="t-SNE of h on the test split, colored by label.")
    parser.add_argument("-l", "--load", "--config", dest="load", metavar="YAML",
                        help="override the config stored with --ckpt (needed with --random-init)")
    parser.add_argument("--ckpt", help="checkpoint_epochNNNN.pt, or the exported encoder.pt / its folder")
    parser.add_argument("--random-init", action="store_true", help="the untrained architecture")
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--samples", type=int, default=1000, help="test images to embed")
    parser.add_argument("--opts", nargs="+", default=[], metavar="KEY VALUE")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks for input errors")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if out.exists():
        print(f"error: {out} exists; choose another --out (nothing is overwritten)", file=sys.stderr)
        return 2
    try:
        cfg, device, encoder = frozen_encoder_from_args(args)
        feats, labels = split_features(cfg, encoder, "test", device)
    except UserInputError as err:
        if args.debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    from core.eval.tsne import tsne_figure

    count = min(args.samples, len(feats))
    title = f"t-SNE of h ({'random init' if args.random_init else Path(args.ckpt).name})"
    fig = tsne_figure(feats[:count], labels[:count], title=title, seed=cfg.general.seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    print(f"t-SNE of {count} test images: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
