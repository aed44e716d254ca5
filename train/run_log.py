"""What a run reports as it trains (main process): ``train.log``, the console lines and TensorBoard's scalars.

The trainer opens one ``RunLog`` once the run folders are its own (nothing is written before every
refusal has had its chance) and calls ``step`` after every optimizer step and ``epoch`` after every
epoch. Every scalar is indexed by the optimizer step; ``train/epoch`` maps steps to epochs.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict

from train.board_layout import add_layout

log = logging.getLogger("simclr")


class RunLog:
    """The run's log file (``<logDir>/train.log``, beside the console) and its TensorBoard writer.

    Args:
        logDir: the run's log folder (already the run's own: ``train.run_folder.open_run``).
    """

    def __init__(self, logDir: Path):
        from torch.utils.tensorboard import SummaryWriter

        self.handler = logging.FileHandler(Path(logDir) / "train.log")
        self.handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(self.handler)
        self.writer = SummaryWriter(str(logDir))
        add_layout(self.writer)

    def step(self, globalStep: int, stats: Dict[str, float], lr: float) -> None:
        """The step's loss, positive-pair top-1 and learning rate."""
        self.writer.add_scalar("train/loss", stats["loss"], globalStep)
        self.writer.add_scalar("train/pos_top1", stats["pos_top1"], globalStep)
        self.writer.add_scalar("train/lr", lr, globalStep)

    def threads(self, globalStep: int, threads: int) -> None:
        """A change of the CPU thread count (``core.nn.utils.threads``)."""
        self.writer.add_scalar("train/cpu_threads", threads, globalStep)

    def epoch(self, globalStep: int, epoch: int, epochs: int, metrics: Dict[str, float], lr: float,
              seconds: float, resumedAt: int = 0, stepsPerEpoch: int = 0) -> None:
        """The epoch's means and throughput: one console line and TensorBoard's epoch scalars.

        Args:
            epoch: the epoch just completed (1-based).
            resumedAt: the first step this launch ran, when it resumed mid-epoch (0 otherwise).
        """
        self.writer.add_scalar("train/img_per_s", metrics["img_per_s"], globalStep)
        self.writer.add_scalar("train/epoch_loss", metrics["loss"], globalStep)
        self.writer.add_scalar("train/epoch", epoch, globalStep)
        part = f" (steps {resumedAt + 1}-{stepsPerEpoch}, resumed mid-epoch)" if resumedAt else ""
        log.info("epoch %d/%d  loss %.4f  pos_top1 %.3f  lr %.2e  %.0f img/s  %.1f s%s", epoch, epochs,
                 metrics["loss"], metrics["pos_top1"], lr, metrics["img_per_s"], seconds, part)

    def close(self) -> None:
        """Flush TensorBoard and detach the log file."""
        try:
            self.writer.close()
        except OSError as err:   # e.g. the disk is full: the run already reports why it stops
            log.warning("TensorBoard could not flush its last events (%s)", err)
        log.removeHandler(self.handler)
        self.handler.close()
