"""Tasks 2-3: the SimCLR model's encoder, projection head and helpers."""
import pytest
import torch
from torch import nn

from core.nn.networks import MLP, ResNet, SimCLR

SMALL = dict(baseChNo=8, mlpLayers=[32])


@pytest.mark.task2
@pytest.mark.parametrize("size, extra", [
    (32, {}),
    (64, dict(firstKernelSize=7, encoderStrides=[2, 2, 1, 2, 2, 2])),
    (32, dict(archType="34", norm="GroupNorm", normKwargs={"num_groups": 4})),
])
def test_encoder_maps_images_to_h(size, extra):
    model = SimCLR(3, 48, 16, **SMALL, **extra).build()
    assert isinstance(model.encoder, ResNet)
    h = model.encoder(torch.randn(3, 3, size, size))
    assert h.shape == (3, 48)


@pytest.mark.task2
def test_encoder_follows_the_hyperparameters():
    model = SimCLR(3, 64, 16, baseChNo=8, archType="34", activ="SiLU", activKwargs={},
                   encoderStrides=[1, 2, 1, 2, 2, 2], downType="avgpool").build()
    enc = model.encoder
    assert enc.inChNo == 3 and enc.outChNo == 64 and enc.archType == "34"
    assert enc.strides == [1, 2, 1, 2, 2, 2] and isinstance(enc.stemPool, nn.AvgPool2d)
    assert any(isinstance(m, nn.SiLU) for m in enc.modules())
    assert enc.lastPool is True


@pytest.mark.task3
def test_projection_maps_h_to_z():
    model = SimCLR(3, 48, 16, **SMALL).build()
    assert isinstance(model.project, MLP)
    assert model.project(torch.randn(5, 48)).shape == (5, 16)
    linears = [m for m in model.project.modules() if isinstance(m, nn.Linear)]
    assert [m.in_features for m in linears] == [48, 32]
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.LayerNorm)) for m in model.project.modules())
    assert not isinstance(list(model.project.layers)[-1][-1], nn.ReLU)  # no last activation


@pytest.mark.task3
def test_projection_follows_the_hyperparameters():
    model = SimCLR(3, 48, 16, baseChNo=8, mlpLayers=[40, 24], useBias=False, dropRate=0.2,
                   dropLayers=1, projNorm="BatchNorm1d").build()
    linears = [m for m in model.project.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(48, 40), (40, 24), (24, 16)]
    assert all(m.bias is None for m in linears)
    assert sum(isinstance(m, nn.Dropout) for m in model.project.modules()) == 1
    assert any(isinstance(m, nn.BatchNorm1d) for m in model.project.modules())


@pytest.mark.task2
@pytest.mark.task3
def test_forward_returns_h_and_z():
    model = SimCLR(3, 48, 16, **SMALL).build()
    h, z = model(torch.randn(4, 3, 32, 32))
    assert h.shape == (4, 48) and z.shape == (4, 16)
    assert torch.allclose(z, model.project(h))


@pytest.mark.task2
@pytest.mark.task3
def test_init_weights_and_parameter_groups():
    model = SimCLR(3, 48, 16, **SMALL).build().init_weights()
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(torch.all(m.weight == 1) and torch.all(m.bias == 0) for m in bns)
    groups = model.get_params(0.1)
    decay, noDecay = groups
    assert all(p.ndim > 1 for p in decay["params"])
    assert all(p.ndim == 1 for p in noDecay["params"]) and noDecay["weight_decay"] == 0.0
    assert len(decay["params"]) + len(noDecay["params"]) == len(list(model.parameters()))
    assert {g["lr"] for g in groups} == {0.1}
    torch.optim.SGD(groups, lr=0.1, weight_decay=1e-4)  # accepted by an optimizer


def test_hparams_round_trip_and_unknown_keyword():
    model = SimCLR(3, 48, 16, **SMALL)
    params = model.hparams()
    assert params["baseChNo"] == 8 and params["mlpLayers"] == [32] and params["archType"] == "18"
    assert SimCLR(3, 48, 16, **params).hparams() == params
    with pytest.raises(ValueError, match=r"unknown hyperparameter\(s\) \['mlpLayer'\]"):
        SimCLR(3, 48, 16, mlpLayer=[32])
