"""What the command-line tools share: their common flags, the one-line report of an input error, and how a
stop (``train/stops.py``) ends a tool.

``train/main.py`` takes ``config_flags()``; the evaluation tools (``linear_eval.py``,
``tsne.py``, ``finetune.py``) take ``encoder_flags()``, which adds the encoder to
evaluate. Every tool reports a ``UserInputError`` through ``report_input_error``:
one line on stderr and exit code 2, or the full traceback with ``--debug`` or the
``SIMCLR_DEBUG`` environment variable. The evaluation tools run their work inside
``guarded``: an input error found at any point (a bad argument, a checkpoint whose
features are not finite, a fine-tuning that diverges) is that one line, and Ctrl-C,
SIGTERM or SIGHUP stop them in one line with exit code 128 + the signal, as training does.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Callable, List

from core.errors import UserInputError
from train.stops import Stopped, raise_stopped, stop_signals


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


HELD: List[int] = []   # stop signals that came while a tool was still loading (hold_stop_signals)


def hold_stop_signals() -> None:
    """Until ``guarded`` runs, only note Ctrl-C, SIGTERM and SIGHUP (an ignored one stays ignored).

    A tool calls this first, before it imports torch: an exception raised inside torch's import
    can abort the process (SIGABRT) or end it in a traceback; ``guarded`` then stops in one line.
    """
    for sig in stop_signals():
        signal.signal(sig, lambda signum, frame: HELD.append(signum))


def guarded(args: argparse.Namespace, work: Callable[[], int]) -> int:
    """``work()``'s exit code; an input error -> one line and 2, a stop signal -> one line and 128 + signal.

    The evaluation tools write their result files only at the end (atomically), so a stop leaves
    nothing behind.
    """
    handlers = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: raise_stopped, signal.SIGHUP: raise_stopped}
    previous = {sig: signal.signal(sig, handlers[sig]) for sig in stop_signals()}
    try:
        if HELD:                                   # came while the tool was loading
            raise Stopped(HELD[0])
        return work()
    except UserInputError as err:
        return report_input_error(err, args)
    except KeyboardInterrupt as err:
        signum = getattr(err, "signum", signal.SIGINT)
        print(f"stopped by {signal.Signals(signum).name}; no result was written", file=sys.stderr)
        return 128 + signum
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
