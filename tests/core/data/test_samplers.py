"""EpochSampler: deterministic per (seed, epoch), resumable mid-epoch."""
from core.data.samplers import EpochSampler


def test_order_depends_on_seed_and_epoch_only():
    a, b = EpochSampler(50, seed=1), EpochSampler(50, seed=1)
    a.set_epoch(3)
    b.set_epoch(3)
    assert list(a) == list(b) and sorted(a) == list(range(50))
    b.set_epoch(4)
    assert list(a) != list(b)
    assert list(EpochSampler(50, seed=2)) != list(EpochSampler(50, seed=1))


def test_start_index_skips_the_first_indices():
    full = EpochSampler(20, seed=0)
    full.set_epoch(1)
    part = EpochSampler(20, seed=0)
    part.set_epoch(1, startIndex=8)
    assert list(part) == list(full)[8:] and len(part) == 12
