"""What the command-line tools share: their common flags and the one-line report of an input error.

``train/main.py`` takes ``config_flags()``; the evaluation tools (``linear_eval.py``,
``tsne.py``, ``finetune.py``) take ``encoder_flags()``, which adds the encoder to
evaluate. Every tool reports a ``UserInputError`` through ``report_input_error``:
one line on stderr and exit code 2, or the full traceback with ``--debug`` or the
``SIMCLR_DEBUG`` environment variable.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Tuple

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def config_flags() -> argparse.ArgumentParser:
    """A parent parser: ``-l/--load YAML``, ``--opts KEY VALUE ...`` (repeatable), ``--debug``."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("-l", "--load", "--config", dest="load", metavar="YAML",
                        help="experiment YAML merged over train/config.py defaults (the evaluation tools: over "
                             "the config stored with --ckpt)")
    parser.add_argument("--opts", nargs="+", action="extend", default=[], metavar="KEY VALUE",
                        help="config overrides, e.g. --opts train.epochs 5 general.device cpu (repeatable)")
    parser.add_argument("--debug", action="store_true",
                        help="show full tracebacks for input errors (or set SIMCLR_DEBUG=1)")
    return parser


def encoder_flags() -> argparse.ArgumentParser:
    """``config_flags()`` plus the encoder to evaluate: ``--ckpt PATH`` or ``--random-init``."""
    parser = argparse.ArgumentParser(add_help=False, parents=[config_flags()])
    parser.add_argument("--ckpt", help="checkpoint_epochNNNN.pt, or the exported encoder.pt / its folder")
    parser.add_argument("--random-init", action="store_true",
                        help="the same architecture from random initialization (the baseline; needs -l or --ckpt)")
    parser.add_argument("--force", action="store_true",
                        help="replace an earlier result of the same name (without it, an existing result is kept "
                             "and the tool stops before computing)")
    return parser


def debugging(args: argparse.Namespace) -> bool:
    """Whether input errors should raise (``--debug`` or ``SIMCLR_DEBUG``) instead of printing one line."""
    return bool(getattr(args, "debug", False) or os.environ.get("SIMCLR_DEBUG"))


def report_input_error(err: Exception, args: argparse.Namespace) -> int:
    """Print ``error: <message>`` once (rank 0 under torchrun) and return 2; re-raise when debugging."""
    if debugging(args):
        raise err
    if os.environ.get("RANK", "0") == "0":
        print(f"error: {err}", file=sys.stderr)
    return 2


def stop_signals(signals: Tuple[int, ...] = STOP_SIGNALS) -> Tuple[int, ...]:
    """Those of ``signals`` this process answers: not the ignored ones.

    ``nohup`` starts a command with SIGHUP ignored (so it outlives its terminal) and a background
    shell job has SIGINT ignored; a handler installed over them would undo that choice.
    """
    return tuple(sig for sig in signals if signal.getsignal(sig) is not signal.SIG_IGN)
