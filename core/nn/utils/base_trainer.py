"""``BaseTrainer``: the epoch loop, with hooks a concrete trainer fills in.

The structure follows the original tutorial: ``init_train_data``,
``init_networks``, ``init_losses``, ``init_optimizers`` build everything,
``optimize_parameters`` runs one step, ``evaluate`` measures the
representation. ``train()`` calls them in order and decides when to evaluate
and save. Nothing here knows about SimCLR; ``train/trainer.py`` does.
"""
from __future__ import annotations

import abc
from typing import Any, Dict


class BaseTrainer(abc.ABC):
    """Epoch loop skeleton.

    Attributes set by subclasses: ``epochs`` (total), ``evalEvery`` and
    ``saveEvery`` (0 = only at the end). ``epoch`` counts completed epochs and
    is restored on resume.
    """

    epoch: int = 0
    epochs: int = 1
    evalEvery: int = 0
    saveEvery: int = 0

    def setup(self) -> None:
        """Build data, networks, losses and optimizers, in that order."""
        self.init_train_data()
        self.init_networks()
        self.init_losses()
        self.init_optimizers()

    @abc.abstractmethod
    def init_train_data(self) -> None:
        """Create datasets and loaders."""

    @abc.abstractmethod
    def init_networks(self) -> None:
        """Create the model(s)."""

    @abc.abstractmethod
    def init_losses(self) -> None:
        """Create the loss(es)."""

    @abc.abstractmethod
    def init_optimizers(self) -> None:
        """Create optimizer(s) and scheduler(s)."""

    @abc.abstractmethod
    def optimize_parameters(self, batch: Any) -> Dict[str, float]:
        """One optimization step on ``batch``; returns scalars to log."""

    @abc.abstractmethod
    def train_one_epoch(self) -> Dict[str, float]:
        """Run ``optimize_parameters`` over one epoch of data."""

    @abc.abstractmethod
    def evaluate(self) -> Dict[str, float]:
        """Measure the current representation."""

    @abc.abstractmethod
    def save_checkpoint(self) -> None:
        """Write everything needed to resume after ``self.epoch`` epochs."""

    def is_due(self, every: int) -> bool:
        """Whether an every-N-epochs action is due after the epoch just completed."""
        return self.epoch == self.epochs or (every > 0 and self.epoch % every == 0)

    def train(self) -> Dict[str, float]:
        """Train from ``self.epoch`` to ``self.epochs``; returns the last metrics."""
        metrics: Dict[str, float] = {}
        while self.epoch < self.epochs:
            metrics = dict(self.train_one_epoch())
            self.epoch += 1
            if self.is_due(self.evalEvery):
                metrics.update(self.evaluate())
            if self.is_due(self.saveEvery):
                self.save_checkpoint()
        return metrics
