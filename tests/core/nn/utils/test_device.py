"""core/nn/utils/device.py: every CUDA-only decision, run here against a mocked CUDA that keeps torch's rules."""
import logging

import pytest
import torch
from torch import nn

from core.nn.utils.device import Precision, enter_device, loader_options, precision_for, process_group_backend
from tests.cuda_mock import MockCuda


def test_the_mock_refuses_what_torch_refuses(monkeypatch):
    """torch.cuda.set_device(torch.device('cuda')) raised on the H200: the mock must raise the same."""
    cuda = MockCuda(monkeypatch, count=2)
    with pytest.raises(ValueError, match="specified index"):
        torch.cuda.set_device(torch.device("cuda"))
    with pytest.raises(RuntimeError, match="invalid device ordinal"):
        torch.cuda.set_device(2)
    torch.cuda.set_device(torch.device("cuda", 1))
    assert cuda.entered == [1]


@pytest.mark.parametrize("name, count, expected, entered", [
    ("cuda", 1, "cuda:0", [0]),        # the shipped default: an index is required by set_device
    ("cuda:0", 1, "cuda:0", [0]),
    ("cuda:1", 2, "cuda:1", [1]),
    ("cuda:2", 2, "cpu", []),          # past the last device: the CPU, with a warning
    ("cuda", 0, "cpu", []),            # no CUDA at all
    ("cpu", 2, "cpu", []),
])
def test_enter_device(monkeypatch, caplog, name, count, expected, entered):
    cuda = MockCuda(monkeypatch, count=count)
    with caplog.at_level(logging.WARNING, logger="core"):
        device = enter_device(name)
    assert device == torch.device(expected)
    assert cuda.entered == entered
    if expected == "cpu" and name != "cpu":
        assert "running on the CPU" in caplog.text


@pytest.mark.parametrize("name", ["cuda", "cuda:0", "cuda:1"])
def test_torchrun_process_takes_its_local_rank(monkeypatch, caplog, name):
    cuda = MockCuda(monkeypatch, count=2)
    assert enter_device(name, localRank=1) == torch.device("cuda", 1)
    assert cuda.entered == [1]
    assert ("LOCAL_RANK" in caplog.text) == (name == "cuda:0")


def test_torchrun_process_without_a_gpu_is_refused(monkeypatch):
    MockCuda(monkeypatch, count=2)
    with pytest.raises(ValueError, match=r"LOCAL_RANK=2 has no GPU of its own \(2 CUDA device"):
        enter_device("cuda", localRank=2)


@pytest.mark.parametrize("name", ["gpu", "cuda:", "CUDA", "cuda:0:1", ""])
def test_unknown_device_names_the_accepted_forms(name):
    with pytest.raises(ValueError, match=r"general.device=.*use 'cpu', 'cuda' or 'cuda:N'"):
        enter_device(name)


@pytest.mark.parametrize("bf16, amp, channelsLast, expected", [
    (True, True, True, Precision(True, torch.bfloat16, False, True)),
    (False, True, True, Precision(True, torch.float16, True, True)),    # fp16 needs the GradScaler
    (True, False, False, Precision(False, torch.float32, False, False)),
    (False, False, True, Precision(False, torch.float32, False, True)),
])
def test_precision_on_cuda(monkeypatch, bf16, amp, channelsLast, expected):
    MockCuda(monkeypatch, count=1, bf16=bf16)
    plan = precision_for(enter_device("cuda"), amp, channelsLast)
    assert plan == expected
    assert plan.scaler(torch.device("cuda", 0)).is_enabled() == expected.gradScaler


def test_cpu_runs_float32_whatever_the_config(monkeypatch):
    MockCuda(monkeypatch, count=1)
    assert precision_for(torch.device("cpu"), amp=True, channelsLast=True) == Precision()


def test_backend_and_loader_options_follow_the_device(monkeypatch):
    MockCuda(monkeypatch, count=1)
    gpu = enter_device("cuda")
    assert process_group_backend(gpu) == "nccl"
    assert process_group_backend(torch.device("cpu")) == "gloo"
    assert loader_options(gpu, workers=2, train=True) == {"pin_memory": True, "persistent_workers": True}
    assert loader_options(gpu, workers=0, train=True) == {"pin_memory": True, "persistent_workers": False}
    assert loader_options(gpu, workers=2, train=False) == {"pin_memory": True, "persistent_workers": False}
    assert loader_options(torch.device("cpu"), workers=2, train=True) == {"pin_memory": False,
                                                                          "persistent_workers": False}


def test_make_loader_pins_memory_for_a_gpu(monkeypatch):
    from train.builders import make_loader

    MockCuda(monkeypatch, count=1)
    data = torch.utils.data.TensorDataset(torch.zeros(8, 3))
    loader = make_loader(data, 4, 1, enter_device("cuda"), train=True)
    assert loader.pin_memory and loader.persistent_workers
    assert not make_loader(data, 4, 1, torch.device("cpu"), train=True).pin_memory


@pytest.mark.pipeline
@pytest.mark.parametrize("plan", [Precision(True, torch.float16, True, True),
                                  Precision(True, torch.bfloat16, False, True)],
                         ids=["fp16+GradScaler+channels_last", "bf16+channels_last"])
def test_cuda_precisions_train_a_step(plan):
    """The CUDA plans' code paths (autocast, the scaler, channels_last) run a real step, on the CPU."""
    from core.nn.loss import NTXent
    from train.step import TrainStep

    torch.manual_seed(0)

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.head = nn.Conv2d(3, 8, 3), nn.Linear(8, 4)

        def forward(self, x):
            h = self.conv(x).mean((2, 3))
            return h, self.head(h)

    model = Tiny().to(memory_format=torch.channels_last)
    cpu = torch.device("cpu")
    scaler = plan.scaler(cpu)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = [p.detach().clone() for p in model.parameters()]
    step = TrainStep(model, NTXent(0.5), opt, scaler, cpu, precision=plan)
    stats = step([[torch.randn(4, 3, 6, 6), torch.randn(4, 3, 6, 6)], None])
    assert 0 < stats["loss"] < 10
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert scaler.is_enabled() == plan.gradScaler
    if plan.gradScaler:
        assert scaler.get_scale() == 2.0 ** 16      # scaled, unscaled, no overflow: the scale kept
