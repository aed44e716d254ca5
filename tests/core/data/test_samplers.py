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


def test_ranks_share_one_permutation_without_overlap():
    single = EpochSampler(10, seed=3)
    ranks = [EpochSampler(10, seed=3, rank=r, worldSize=3) for r in range(3)]
    for sampler in [single, *ranks]:
        sampler.set_epoch(2)
    shards = [list(r) for r in ranks]
    assert all(len(s) == 3 for s in shards)
    assert sorted(sum(shards, [])) == sorted(list(single)[:9])
    assert [shards[r][i] for i in range(3) for r in range(3)] == list(single)[:9]
