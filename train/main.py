"""Start SimCLR training.

    python train/main.py -l assets/experiments/quickstart.yaml
    python train/main.py -l assets/experiments/base_simclr.yaml --opts train.epochs 200
    python train/main.py -l assets/experiments/base_simclr.yaml --resume auto
    python train/main.py -l assets/experiments/quickstart.yaml --print-config   # the merged config, no run

Exit codes: 0 done (or the run was already complete), 2 bad input (config,
data, run folder, checkpoint), 1 the loss diverged or the disk is full, 128 +
the signal when stopped: 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP (the current step
finishes, a checkpoint is written and the resume command is printed).
"""
from __future__ import annotations

import argparse
import errno
import logging
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import List, Optional

EARLY: List[int] = []          # stop signals that came while the imports below ran (run as a command)
if __name__ == "__main__":     # a Ctrl-C in the first tenth of a second would end in an import's traceback
    BEFORE = {sig: signal.signal(sig, lambda signum, frame: EARLY.append(signum))
              for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
              if signal.getsignal(sig) is not signal.SIG_IGN}

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.errors import UserInputError  # noqa: E402
from train.cli import config_flags, report_input_error  # noqa: E402
from train.stops import raise_stopped, stop_signals  # noqa: E402
from train.config import load_config  # noqa: E402


def get_args_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description="SimCLR pretraining (TensorBoard logs, checkpoints).",
                                     parents=[config_flags()])
    parser.add_argument("--resume", metavar="PATH|auto",
                        help="checkpoint to continue from; 'auto' = newest of this run (or start fresh)")
    parser.add_argument("--print-config", action="store_true",
                        help="print the merged configuration (defaults < YAML < --opts) as YAML and exit (checks it "
                             "and builds the model once; trains nothing)")
    return parser


class ConsoleHandler(logging.StreamHandler):
    """A handler that writes to whatever ``sys.stdout`` (or ``sys.stderr``) is at the time of the message.

    So a caller that redirects the console (a notebook cell, a test) gets the messages, and a
    closed earlier stream is never written to.
    """

    def __init__(self, name: str):
        self.name_ = name
        super().__init__()

    @property
    def stream(self):
        return getattr(sys, self.name_)

    @stream.setter
    def stream(self, value):
        pass


def setup_console_logging() -> None:
    logger = logging.getLogger("simclr")
    if not logger.handlers:
        handler = ConsoleHandler("stdout")
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    coreLogger = logging.getLogger("core")  # warnings of the library (device fallback, skipped files)
    if not coreLogger.handlers:
        coreLogger.addHandler(ConsoleHandler("stderr"))


def resume_command(args: argparse.Namespace) -> str:
    """The command that continues this run."""
    parts = ["python train/main.py"]
    if args.load:
        parts += ["-l", shlex.quote(args.load)]
    parts += ["--resume auto"]
    if args.opts:
        parts += ["--opts"] + [shlex.quote(o) for o in args.opts]
    return " ".join(parts)


def quiet_disk_full_threads(args) -> None:
    """Let the main thread report a full disk once, instead of a traceback from TensorBoard's writer thread."""
    if isinstance(args.exc_value, OSError) and args.exc_value.errno in (errno.ENOSPC, errno.EDQUOT):
        return
    threading.__excepthook__(args)


def import_holding_signals(modules=("train.state", "train.trainer")) -> Optional[int]:
    """Import ``modules`` (torch and the trainer) with Ctrl-C, SIGTERM and SIGHUP held back; the first that came.

    During its import torch's C++ code calls back into Python; an exception raised there by a
    signal handler cannot pass through the C++ frames and the process aborts (SIGABRT, exit -6,
    seen with a SIGHUP 0.8 s after the start). So while torch loads a signal is only noted.

    Returns:
        The first signal that came during the import, or None.
    """
    import importlib  # noqa: SIM104  (a fixed list of this project's modules, never a name from a config)

    came: List[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: came.append(signum)) for sig in stop_signals()}
    try:
        for name in modules:
            importlib.import_module(name)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return came[0] if came else None


def main(argv: Optional[List[str]] = None) -> int:
    """Parse arguments, build the trainer, train. Returns the exit code."""
    if __name__ == "__main__":
        for sig, handler in BEFORE.items():     # the handlers the command started with, again
            signal.signal(sig, handler)
        BEFORE.clear()
        if EARLY:
            return stopped_while_starting(EARLY[0])
    args = get_args_parser().parse_args(argv)
    if args.print_config:
        return print_config(args)
    setup_console_logging()
    held = import_holding_signals()
    if held is not None:
        return stopped_while_starting(held)
    previous = {sig: signal.signal(sig, raise_stopped) for sig in stop_signals((signal.SIGTERM, signal.SIGHUP))}
    previousHook, threading.excepthook = threading.excepthook, quiet_disk_full_threads
    try:
        return run(args)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        threading.excepthook = previousHook


def run(args: argparse.Namespace) -> int:
    """Build the trainer and train; the exit code (see the module docstring)."""
    try:
        from train.state import DiskFullError          # imported by main already (holding signals meanwhile)
        from train.trainer import NonFiniteLossError, SimCLRTrainer

        cfg = load_config(args.load, args.opts)
        trainer = SimCLRTrainer(cfg, resume=args.resume)
    except UserInputError as err:          # config, data, run folder, checkpoint: one line, exit 2
        return report_input_error(err, args)
    except KeyboardInterrupt as err:       # Ctrl-C / SIGTERM / SIGHUP while starting: nothing to save
        return stopped_while_starting(getattr(err, "signum", signal.SIGINT))
    log = logging.getLogger("simclr")
    if trainer.complete:
        trainer.close()
        more = f"{'' if args.opts else ' --opts'} train.epochs {2 * max(trainer.epoch, cfg.train.epochs)}"
        print(f"run {cfg.general.name} is complete at epoch {trainer.epoch} (train.epochs {cfg.train.epochs}); "
              f"nothing was written. To train longer:\n  {resume_command(args)}{more}", file=sys.stderr)
        return 0
    try:
        metrics = trainer.train()
    except NonFiniteLossError as err:
        print(f"error: {err}; {newest_kept(trainer.saveDir)}", file=sys.stderr)
        return 1
    except DiskFullError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        if err.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        print(f"error: no space left on the device while writing the logs in {trainer.logDir} ({err.strerror}); "
              f"{newest_kept(trainer.saveDir)}; free space, then:\n  {resume_command(args)}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        name = signal.Signals(trainer.stopSignal).name
        what = ("aborted; checkpoints already in" if trainer.abortNow else "interrupted; checkpoint saved in")
        print(f"{name}: {what} {trainer.saveDir}. Resume with:\n  {resume_command(args)}", file=sys.stderr)
        return 128 + int(trainer.stopSignal)
    else:
        summary = f"final loss {metrics.get('loss', float('nan')):.4f}"
        if "knn_top1" in metrics:
            summary += f", kNN top-1 {metrics['knn_top1']:.4f}"
            beside = [f"{name} {metrics[key]:.4f}" for key, name in
                      (("knn_top1_step0", "step 0"), ("knn_top1_pixels", "raw pixels")) if key in metrics]
            summary += f" ({', '.join(beside)})" if beside else ""
        log.info("done: %s | logs: %s | checkpoints: %s", summary, trainer.logDir, trainer.saveDir)  # in train.log
    finally:
        trainer.close()
    return 0


def print_config(args: argparse.Namespace) -> int:
    """``--print-config``: the configuration a run would use; 0, or 2 on bad input.

    The config passes the trainer's checks and its model is built once (on the CPU), so a bad value
    is found here; data, device and run folder are checked when the run starts.
    """
    try:
        cfg = load_config(args.load, args.opts)
        from train.builders import build_model

        build_model(cfg.model)
    except UserInputError as err:
        return report_input_error(err, args)
    print(cfg.dump(), end="")
    return 0


def newest_kept(saveDir: Path) -> str:
    """What a stop left: ``the newest checkpoint PATH is intact`` or ``no checkpoint was written yet``."""
    from core.nn.utils.checkpoint import latest_checkpoint

    newest = latest_checkpoint(saveDir)
    return f"the newest checkpoint {newest} is intact" if newest else "no checkpoint was written yet"


def stopped_while_starting(signum: int = signal.SIGINT) -> int:
    """A stop before training began (also Ctrl-C during the interpreter's own imports): one line, 128 + signal."""
    print(f"stopped by {signal.Signals(signum).name} while starting; no checkpoint was written", file=sys.stderr)
    return 128 + signum


if __name__ == "__main__":
    try:
        code = main()
    except KeyboardInterrupt:
        code = stopped_while_starting()
    raise SystemExit(code)
