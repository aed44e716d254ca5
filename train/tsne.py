"""t-SNE figure of the representation h for any checkpoint.

    python train/tsne.py --ckpt assets/checkpoints/quickstart
    python train/tsne.py --ckpt assets/checkpoints/quickstart/checkpoint_epoch0040.pt --samples 300

The figure goes to the run's log folder (``assets/logs/<run>/tsne_<checkpoint>.png``)
unless ``--out`` says otherwise; an existing file is never overwritten. The
images are a seeded, class-stratified sample of the test split.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from train.cli import hold_stop_signals  # noqa: E402

if __name__ == "__main__":
    hold_stop_signals()     # a stop while torch loads is answered by guarded, in one line

from core.errors import UserInputError  # noqa: E402
from core.files import output_problem  # noqa: E402
from core.eval.subsets import stratified_order  # noqa: E402
from train.cli import encoder_flags, guarded  # noqa: E402
from train.encoder_setup import encoder_from_args, split_features, split_labels  # noqa: E402
from train.run_folder import run_folders  # noqa: E402
from train.results import encoder_name, save_figure  # noqa: E402


def png_path(out: str) -> Path:
    """``out`` as the file matplotlib will write: a name without an extension gets ``.png``."""
    path = Path(out)
    return path if path.suffix else path.with_name(path.name + ".png")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="t-SNE of h on the test split, colored by label.",
                                     parents=[encoder_flags()])
    parser.add_argument("--out", help="PNG file to write, or a folder to write it in (default: "
                                      "tsne_<checkpoint>.png in the run's log folder)")
    parser.add_argument("--samples", type=int, default=1000, help="test images to embed")
    args = parser.parse_args(argv)
    return guarded(args, lambda: run(args))


def run(args: argparse.Namespace) -> int:
    """The figure of ``args`` (see ``main``); where it goes is checked before anything is computed."""
    if args.samples < 5:
        raise UserInputError(f"--samples {args.samples} must be >= 5 (t-SNE needs a few points)")
    cfg, device, encoder, _, _ = encoder_from_args(args)
    name = f"tsne_{encoder_name(args.ckpt, args.random_init)}.png"
    if args.out and Path(args.out).is_dir():            # a folder: the figure goes inside it
        out = Path(args.out) / name
    else:
        out = png_path(args.out) if args.out else run_folders(cfg)[0] / name
    if not args.out and out.exists() and not args.force:
        raise UserInputError(f"{out} exists; choose --out, or pass --force to replace it")
    problem = output_problem(out, replace=args.force)
    if problem:
        raise UserInputError(f"cannot write the t-SNE figure {out}: {problem}")
    shown = stratified_order(split_labels(cfg, "test").numpy(), args.samples, cfg.general.seed)
    feats, labels = split_features(cfg, encoder, "test", device, shown, progress=sys.stderr.isatty())
    from core.eval.tsne_figure import tsne_figure

    title = f"t-SNE of h ({'random init' if args.random_init else Path(args.ckpt).name})"
    fig = tsne_figure(feats, labels, title=title, seed=cfg.general.seed)
    save_figure(fig, out)
    print(f"t-SNE of {len(feats)} test images (class-stratified): {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
