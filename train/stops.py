"""Stopping a run: the signals that stop training and the evaluation tools, and the exception a stop raises.

Ctrl-C raises ``KeyboardInterrupt`` by itself; SIGTERM and SIGHUP are turned into ``Stopped`` (a
``KeyboardInterrupt`` that says which signal) by ``raise_stopped``, so every stop takes the same path: the
trainer finishes its step and writes a checkpoint, a tool writes nothing, and both exit with 128 + the signal.
"""
from __future__ import annotations

import signal
from typing import Tuple

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def stop_signals(signals: Tuple[int, ...] = STOP_SIGNALS) -> Tuple[int, ...]:
    """Those of ``signals`` this process answers: not the ignored ones.

    ``nohup`` starts a command with SIGHUP ignored (so it outlives its terminal) and a background
    shell job has SIGINT ignored; a handler installed over them would undo that choice.
    """
    return tuple(sig for sig in signals if signal.getsignal(sig) is not signal.SIG_IGN)


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP turned into an exception (Ctrl-C raises ``KeyboardInterrupt`` itself): ``signum`` says
    which. Training (before its loop) and the evaluation tools raise it from ``raise_stopped``."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def raise_stopped(signum, frame):
    """A signal handler: SIGTERM or SIGHUP as ``Stopped``."""
    raise Stopped(signum)
