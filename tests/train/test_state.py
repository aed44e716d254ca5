"""Checkpoint state pieces: RNG capture/restore (CUDA too) and the training step's single host sync."""
import random

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from core.nn.utils.device import Precision
from core.nn.utils.randomness import capture_rng, restore_rng


def draws():
    return random.random(), float(np.random.rand()), torch.rand(1).item()


def test_rng_round_trip():
    state = capture_rng()
    first = draws()
    restore_rng(state)
    assert draws() == first


def test_cuda_generators_are_restored_when_the_devices_match(monkeypatch):
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", lambda states: restored.append(len(states)))
    state = {**capture_rng_cpu(), "cuda": [torch.zeros(8, dtype=torch.uint8)] * 2}
    restore_rng(state)
    assert restored == [2]
    restore_rng({**state, "cuda": [torch.zeros(8, dtype=torch.uint8)]})     # 1 state, 2 devices: skipped
    assert restored == [2]


def capture_rng_cpu():
    npState = np.random.get_state()
    return {"torch": torch.get_rng_state(), "python": random.getstate(),
            "numpy": [npState[0], torch.from_numpy(npState[1].copy()), npState[2], npState[3], npState[4]]}


class SyncCounter(TorchDispatchMode):
    """Counts the ops that make the host wait for a tensor's value (.item(), bool(tensor))."""

    def __init__(self):
        super().__init__()
        self.syncs = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket.__name__ in ("_local_scalar_dense", "is_nonzero", "item"):
            self.syncs.append(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


@pytest.mark.pipeline
def test_a_training_step_waits_for_the_device_once():
    from core.nn.loss import NTXent
    from core.nn.networks import SimCLR
    from train.step import NonFiniteLossError, TrainStep

    model = SimCLR(3, 16, 8, baseChNo=4, mlpLayers=[16]).build()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    step = TrainStep(model, NTXent(0.5), opt, torch.amp.GradScaler("cpu", enabled=False), torch.device("cpu"))
    views = [torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)]
    with SyncCounter() as counter:
        stats = step([views, None])
    assert counter.syncs == [] and set(stats) == {"loss", "pos_top1"}   # only the final .tolist() reads values
    assert isinstance(stats["loss"], float) and 0.0 <= stats["pos_top1"] <= 1.0
    nan = TrainStep(model, lambda a, b: NTXent(0.5)(a, b) * float("nan"), opt,
                    torch.amp.GradScaler("cpu", enabled=False), torch.device("cpu"))
    with pytest.raises(NonFiniteLossError, match="the loss is nan"):
        nan([views, None])


@pytest.mark.parametrize("error", ["ConfigError", "DatasetError", "CheckpointError", "RunExistsError"])
def test_every_input_error_is_one_line_and_exit_2(monkeypatch, capsys, error):
    from core.data.datasets import DatasetError
    from core.errors import CheckpointError
    from train import main as cli
    from train.config import ConfigError
    from train.trainer import RunExistsError

    kinds = {"ConfigError": ConfigError, "DatasetError": DatasetError, "CheckpointError": CheckpointError,
             "RunExistsError": RunExistsError}

    def refuse(*args, **kwargs):
        raise kinds[error](f"the {error} message")

    monkeypatch.delenv("SIMCLR_DEBUG", raising=False)
    monkeypatch.setattr(cli, "load_config", refuse)
    assert cli.main(["-l", "assets/experiments/quickstart.yaml"]) == 2
    assert capsys.readouterr().err.strip() == f"error: the {error} message"
    with pytest.raises(kinds[error]):                       # --debug shows the traceback instead
        cli.main(["-l", "assets/experiments/quickstart.yaml", "--debug"])


def test_resume_with_more_epochs_stretches_warmup_cosine_and_warns_for_torch_schedulers(caplog):
    from core.nn.optim import WarmupCosine
    from train.config import load_config
    from train.state import TrainState, follow_schedule

    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = WarmupCosine(opt, 0, 10)
    for _ in range(5):
        opt.step()
        sched.step()
    cfg = load_config(None, ["optimizer.warmupEpochs", "0", "train.epochs", "20"])
    follow_schedule(TrainState(cfg, None, opt, sched, None, stepsPerEpoch=1), {"train": {"epochs": 10}})
    assert sched.totalSteps == 20 and opt.param_groups[0]["lr"] == pytest.approx(0.5 * (1 + np.cos(np.pi / 4)))

    step = torch.optim.lr_scheduler.StepLR(opt, step_size=3)
    cfg = load_config(None, ["optimizer.scheduler", "StepLR", "train.epochs", "20"])
    follow_schedule(TrainState(cfg, None, opt, step, None, stepsPerEpoch=1), {"train": {"epochs": 10}})
    assert "train.epochs changed from 10 to 20: optimizer.scheduler StepLR counts epochs" in caplog.text


def test_restore_rng_refuses_a_state_it_did_not_make_and_changes_nothing():
    state = capture_rng()
    first = draws()
    restore_rng(state)
    for broken in ({**state, "torch": torch.zeros(3, dtype=torch.uint8)},      # a 3-byte torch state
                   {**state, "numpy": state["numpy"][:2]}, {**state, "python": (3, (1, 2), None)}, {}):
        with pytest.raises(ValueError, match="random generator states are not those of this project"):
            restore_rng(broken)
    assert draws() == first                         # the generators were not touched by the refusals


def test_optimizer_buffers_of_another_shape_are_refused():
    from train.state import check_optimizer_shapes

    weight = torch.nn.Parameter(torch.ones(4, 3))
    opt = torch.optim.SGD([weight], lr=0.1, momentum=0.9)
    weight.grad = torch.ones(4, 3)
    opt.step()
    check_optimizer_shapes(opt)                     # its own buffers pass
    state = opt.state_dict()
    state["state"][0]["momentum_buffer"] = torch.zeros(5, 3)
    opt.load_state_dict(state)                      # torch accepts it; the next step would fail
    with pytest.raises(ValueError, match=r"'momentum_buffer' has shape \[5, 3\] for a parameter of shape \[4, 3\]"):
        check_optimizer_shapes(opt)


def test_the_loss_runs_in_float32_without_autocast_under_amp():
    """Any correct loss trains under AMP: the step hands it float32 inputs with autocast off."""
    from core.nn.networks import MLP
    from train.step import TrainStep

    seen = []

    def naive_loss(zA, zB):          # a loss that does nothing about mixed precision itself
        seen.append((zA.dtype, zB.dtype, torch.is_autocast_enabled("cpu")))
        z = torch.nn.functional.normalize(torch.cat([zA, zB]), dim=1)
        return torch.logsumexp(z @ z.t() / 0.5, dim=1).mean()

    class TwoOutputs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.head = MLP(12, 8, layerCfg=[16]).build()

        def forward(self, x):
            h = x.flatten(1)
            return h, self.head(h)

    model = TwoOutputs()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    step = TrainStep(model, naive_loss, opt, torch.amp.GradScaler("cpu", enabled=False), torch.device("cpu"),
                     precision=Precision(amp=True, dtype=torch.bfloat16))
    before = [p.detach().clone() for p in model.parameters()]
    step([[torch.randn(4, 3, 2, 2), torch.randn(4, 3, 2, 2)], None])
    assert seen == [(torch.float32, torch.float32, False)]
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))   # gradients flowed back
