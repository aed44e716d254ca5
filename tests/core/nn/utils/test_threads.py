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
        assert apply_threads(1, 0, follow=True) == (1, "general.threads", None) and torch.get_num_threads() == 1
        monkeypatch.setenv("LOCAL_WORLD_SIZE", "64")
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        assert apply_threads(0, 0)[0] == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


class FakeMachine:
    """A two-core ``/proc/stat`` and clock that the test advances: ``run(seconds, other, own)`` in cores."""

    def __init__(self, tmp_path):
        self.stat, self.now, self.busy, self.idle, self.ownSeconds = tmp_path / "stat", 0.0, 0.0, 100.0, 0.0
        self.write()

    def write(self):
        ticks = [round(self.busy * 50), round(self.idle * 50)]       # split over the two cores, 100 ticks/s
        line = f"{ticks[0]} 0 0 {ticks[1]} 0 0 0 0 0 0"
        self.stat.write_text(f"cpu  0 0 0 0 0 0 0 0 0 0\ncpu0 {line}\ncpu1 {line}\nintr 1\n")

    def run(self, seconds, other, own):
        used = min(2.0, other + own) * seconds
        self.now += seconds
        self.busy += used
        self.idle += 2 * seconds - used
        self.ownSeconds += own * seconds
        self.write()


def governor(tmp_path, current=2):
    from core.nn.utils.threads import ThreadGovernor

    machine, calls = FakeMachine(tmp_path), []
    gov = ThreadGovernor(2, current, interval=2.0, setThreads=calls.append, cpus=[0, 1], stat=str(machine.stat),
                         clock=lambda: machine.now, ownSeconds=lambda: machine.ownSeconds)
    return machine, gov, calls


def test_the_governor_drops_a_thread_at_once_when_a_neighbour_takes_a_core(tmp_path, caplog):
    machine, gov, calls = governor(tmp_path)
    machine.run(1.0, other=1.0, own=1.0)
    assert gov.update() is None and calls == []            # the window is not over yet
    machine.run(1.5, other=1.0, own=1.0)
    with caplog.at_level("INFO", logger="simclr"):
        line = gov.update()
    assert calls == [1] and gov.threads == 1
    assert line == "CPU threads 2 -> 1: other processes left 1.0 of 2 cores free in the last seconds"
    assert line in caplog.text


def test_the_governor_takes_the_core_back_after_two_free_windows_only(tmp_path):
    machine, gov, calls = governor(tmp_path, current=1)
    machine.run(2.0, other=1.0, own=1.0)
    assert gov.update() is None                             # busy: stays at 1
    machine.run(2.0, other=0.0, own=1.0)
    assert gov.update() is None and calls == []             # one free window is not enough (load comes and goes)
    machine.run(2.0, other=0.2, own=1.0)
    assert gov.update() is not None and calls == [2] and gov.threads == 2
    machine.run(2.0, other=0.0, own=2.0)                    # idle machine, both threads busy: nothing changes
    assert gov.update() is None and calls == [2]


def test_the_governor_never_exceeds_its_ceiling_and_sleeps_without_proc_stat(tmp_path):
    from core.nn.utils.threads import ThreadGovernor, threads_for

    assert [threads_for(free, 2) for free in (0.0, 0.4, 0.6, 1.4, 1.6, 8.0)] == [1, 1, 1, 1, 2, 2]
    assert not ThreadGovernor(1, 1, setThreads=print, cpus=[0, 1]).active
    missing = ThreadGovernor(2, 2, setThreads=print, cpus=[0, 1], stat=str(tmp_path / "none"))
    assert not missing.active and missing.update() is None


def test_apply_threads_follows_only_when_automatic(monkeypatch):
    from core.nn.utils import threads as module

    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    monkeypatch.setattr(module, "usable_cores", lambda: 2)
    monkeypatch.setattr(module, "allowed_cpus", lambda: [0, 1])
    try:
        monkeypatch.setattr(module, "free_cores", lambda cpus: 0.9)          # a neighbour holds a core
        threads, why, gov = module.apply_threads(0, 0, follow=True)
        assert threads == 1 and torch.get_num_threads() == 1 and "0.9 of 2 cores free now" in why
        assert gov is not None and (gov.ceiling, gov.threads) == (2, 1)
        monkeypatch.setattr(module, "free_cores", lambda cpus: 2.0)          # idle: today's count, unchanged
        assert module.apply_threads(0, 0)[:1] == (2,) and torch.get_num_threads() == 2
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert module.apply_threads(0, 0, follow=True) == (2, "OMP_NUM_THREADS", None)
    finally:
        torch.set_num_threads(before)
