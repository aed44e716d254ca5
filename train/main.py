"""Start SimCLR training.

    python train/main.py -l assets/experiments/quickstart.yaml
    python train/main.py -l assets/experiments/base_simclr.yaml --opts train.epochs 200
    python train/main.py -l assets/experiments/base_simclr.yaml --resume auto

Exit codes: 0 done, 2 bad input (config, data, resume path), 1 the loss
diverged, 130 interrupted (Ctrl-C: the current step finishes, a checkpoint is
written and the resume command is printed).
"""
from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from pathlib import Path
from typing import List, Optional

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.errors import UserInputError  # noqa: E402
from train.config import load_config  # noqa: E402


def get_args_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description="SimCLR pretraining (TensorBoard logs, checkpoints).")
    parser.add_argument("-l", "--load", "--config", dest="load", metavar="YAML",
                        help="experiment YAML merged over train/config.py defaults")
    parser.add_argument("--opts", nargs="+", default=[], metavar="KEY VALUE",
                        help="overrides, e.g. --opts train.epochs 5 general.device cpu")
    parser.add_argument("--resume", metavar="PATH|auto",
                        help="checkpoint to continue from; 'auto' = newest of this run (or start fresh)")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks for input errors")
    return parser


def setup_console_logging() -> None:
    logger = logging.getLogger("simclr")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    coreLogger = logging.getLogger("core")  # warnings of the library (device fallback, skipped files)
    if not coreLogger.handlers:
        coreLogger.addHandler(logging.StreamHandler(sys.stderr))


def resume_command(args: argparse.Namespace) -> str:
    """The command that continues this run."""
    parts = ["python train/main.py"]
    if args.load:
        parts += ["-l", shlex.quote(args.load)]
    parts += ["--resume auto"]
    if args.opts:
        parts += ["--opts"] + [shlex.quote(o) for o in args.opts]
    return " ".join(parts)


def main(argv: Optional[List[str]] = None) -> int:
    """Parse arguments, build the trainer, train. Returns the exit code."""
    args = get_args_parser().parse_args(argv)
    setup_console_logging()
    from train.trainer import NonFiniteLossError, SimCLRTrainer

    try:
        cfg = load_config(args.load, args.opts)
        trainer = SimCLRTrainer(cfg, resume=args.resume)
    except UserInputError as err:          # config, data, run folder, checkpoint: one line, exit 2
        if args.debug or os.environ.get("SIMCLR_DEBUG"):
            raise
        if os.environ.get("RANK", "0") == "0":  # under torchrun, say it once
            print(f"error: {err}", file=sys.stderr)
        return 2
    log = logging.getLogger("simclr")
    try:
        metrics = trainer.train()
    except NonFiniteLossError as err:
        print(f"error: {err}; the last good checkpoint in {trainer.saveDir} is untouched", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        what = ("aborted; checkpoints already in" if trainer.abortNow else "interrupted; checkpoint saved in")
        print(f"{what} {trainer.saveDir}. Resume with:\n  {resume_command(args)}", file=sys.stderr)
        return 130
    finally:
        trainer.close()
    summary = f"final loss {metrics.get('loss', float('nan')):.4f}"
    if "knn_top1" in metrics:
        summary += f", kNN top-1 {metrics['knn_top1']:.4f}"
    log.info("done: %s | logs: %s | checkpoints: %s", summary, trainer.logDir, trainer.saveDir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
