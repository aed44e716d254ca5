"""Stratified subsets: what the pictures show, the few labels, the capped baseline."""
import numpy as np
import pytest

from core.eval.subsets import capped_subset, few_labels, stratified_order


def test_every_prefix_of_a_class_sorted_split_is_stratified():
    labels = np.repeat(np.arange(10), 100)          # sorted by class, like an ImageFolder's held-out images
    order = stratified_order(labels, 1000, seed=0)
    assert len(set(order.tolist())) == 1000          # no repeats, all images
    for count in (10, 30, 100, 500):
        counts = np.bincount(labels[order[:count]], minlength=10)
        assert counts.min() >= count // 10 - 1 and counts.max() <= count // 10 + 1, (count, counts)


def test_classes_keep_their_proportions_and_the_seed_fixes_the_choice():
    labels = np.repeat([0, 1, 2], [300, 100, 20])
    order = stratified_order(labels, 84, seed=3)
    assert np.bincount(labels[order]).tolist() == pytest.approx([60, 20, 4], abs=1)
    assert np.array_equal(order, stratified_order(labels, 84, seed=3))
    assert not np.array_equal(order, stratified_order(labels, 84, seed=4))
    assert len(stratified_order(labels, 10_000)) == len(labels)


def test_few_labels_and_capped_subset():
    labels = np.repeat(np.arange(4), [50, 30, 10, 3])
    picked = few_labels(labels, 3, seed=0)
    assert np.bincount(labels[picked]).tolist() == [3, 3, 3, 3]
    with pytest.raises(ValueError, match="5 labels per class: class 3 has only 3 labeled examples; ask for at most 3"):
        few_labels(labels, 5)
    capped = capped_subset(labels, 20)
    assert len(capped) == 20 and np.all(np.diff(capped) > 0)
    assert set(labels[capped]) == {0, 1, 2} or set(labels[capped]) == {0, 1, 2, 3}
    assert np.array_equal(capped_subset(labels, 1000), np.arange(len(labels)))
