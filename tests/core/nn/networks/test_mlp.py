"""The configurable MLP head."""
import pytest
import torch
from torch import nn

from core.nn.networks import MLP


@pytest.mark.parametrize("layerCfg", [[], [64], [64, 32, 16]])
def test_output_shape(layerCfg):
    mlp = MLP(20, 7, layerCfg=layerCfg).build()
    assert mlp(torch.randn(5, 20)).shape == (5, 7)
    assert len([m for m in mlp.modules() if isinstance(m, nn.Linear)]) == len(layerCfg) + 1


def test_bias_norm_and_last_activation():
    mlp = MLP(8, 4, layerCfg=[16], useBias=False, norm="BatchNorm1d", lastActiv="Tanh").build()
    linears = [m for m in mlp.modules() if isinstance(m, nn.Linear)]
    assert all(m.bias is None for m in linears)
    assert any(isinstance(m, nn.BatchNorm1d) for m in mlp.modules())
    out = mlp(torch.randn(6, 8) * 100)
    assert out.abs().max() <= 1.0  # tanh output


def test_dropout_only_on_the_last_layers():
    mlp = MLP(8, 4, layerCfg=[16, 16, 16], dropRate=0.3, dropLayers=2).build()
    hidden = list(mlp.layers)[:3]
    assert [any(isinstance(m, nn.Dropout) for m in block) for block in hidden] == [False, True, True]
    assert [m.p for m in mlp.modules() if isinstance(m, nn.Dropout)] == [0.3, 0.3]      # the configured rate


@pytest.mark.parametrize("kwargs, match", [
    (dict(dropRate=1.5), "dropRate"),
    (dict(layerCfg=[8], dropLayers=2), "dropLayers"),
    (dict(layerCfg=[0]), "layerCfg"),
    (dict(norm="BatchNorm2d"), "BatchNorm1d"),
    (dict(lastActiv="Softmax2"), "activ='Softmax2'"),
    (dict(hidden=[8]), "unknown hyperparameter"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLP(8, 4, **kwargs)
