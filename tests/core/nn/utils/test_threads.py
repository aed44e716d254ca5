"""The CPU thread count: chosen deliberately, from the config, the environment, or the cores left over."""
import pytest
import torch

from core.nn.utils.threads import apply_threads, choose_threads


@pytest.mark.parametrize("cores, workers, processes, expected", [
    (2, 0, 1, 2),      # the quickstart on a laptop: both cores
    (2, 4, 1, 1),      # workers share the two cores
    (16, 4, 1, 12),
    (16, 8, 2, 4),     # torchrun with 2 processes: 8 cores each, half left to the workers
    (4, 0, 8, 1),      # more processes than cores: never 0
])
def test_auto_threads_account_for_workers_and_processes(cores, workers, processes, expected):
    threads, why = choose_threads(0, workers, processes, cores=cores, environ={})
    assert threads == expected and why.startswith(f"auto: {cores} cores")


def test_config_and_environment_win():
    assert choose_threads(3, 4, 2, cores=16, environ={"OMP_NUM_THREADS": "1"}) == (3, "general.threads")
    assert choose_threads(0, 4, 2, cores=16, environ={"OMP_NUM_THREADS": "1"}) == (1, "OMP_NUM_THREADS")
    assert choose_threads(0, 0, 1, cores=4, environ={"OMP_NUM_THREADS": "junk"})[0] == 4


def test_apply_sets_torch_threads(monkeypatch):
    before = torch.get_num_threads()
    try:
        assert apply_threads(1, 0) == (1, "general.threads") and torch.get_num_threads() == 1
        monkeypatch.setenv("LOCAL_WORLD_SIZE", "64")
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        assert apply_threads(0, 0)[0] == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
