"""Seeded, class-stratified subsets of a labeled split.

- ``stratified_order``: which images a picture shows (t-SNE, projector). Classes
  take turns, so any prefix of the order holds every class in proportion; the
  same seed gives the same images at every evaluation, so figures of different
  epochs compare. Taking the first N images instead would show only the first
  classes of a class-sorted folder.
- ``few_labels``: K labeled images per class (few-label probes and fine-tuning).
- ``capped_subset``: at most N images, stratified (a cheap raw-pixel baseline).
"""
from __future__ import annotations

import numpy as np


def stratified_order(labels: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """Indices of ``count`` images (all if fewer), classes interleaved in proportion to their size.

    Args:
        labels: ``[N]`` integer class labels.
        count: how many indices to return.
        seed: fixes the choice within each class.

    Returns:
        ``[min(count, N)]`` int64 indices, no repeats; every prefix is class-stratified.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    keys, order = [], []
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        # the i-th image of a class of size n sits at (i + u) / n of the way through the order, with one
        # offset u in [0.25, 0.75) per class, so that classes of equal size do not always tie in the same order
        keys.append((np.arange(len(members)) + rng.uniform(0.25, 0.75)) / len(members))
        order.append(members)
    if not order:
        return np.zeros(0, dtype=np.int64)
    keys, order = np.concatenate(keys), np.concatenate(order)
    return order[np.argsort(keys, kind="stable")][:count].astype(np.int64)


def few_labels(labels: np.ndarray, perClass: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``perClass`` random examples of each class.

    Raises:
        ValueError: a class has fewer than ``perClass`` examples (names the class and its count).
    """
    classes, counts = np.unique(labels, return_counts=True)
    if len(counts) and counts.min() < perClass:
        raise ValueError(f"{perClass} labels per class: class {classes[counts.argmin()]} has only {counts.min()} "
                         f"labeled examples; ask for at most {counts.min()}")
    rng = np.random.default_rng(seed)
    picked = [rng.permutation(np.flatnonzero(labels == c))[:perClass] for c in np.unique(labels)]
    return np.sort(np.concatenate(picked))


def capped_subset(labels: np.ndarray, cap: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of at most ``cap`` images, class-stratified (all when ``len(labels) <= cap``)."""
    if len(labels) <= cap:
        return np.arange(len(labels))
    return np.sort(stratified_order(labels, cap, seed))
