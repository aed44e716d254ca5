"""The configurable ResNet encoder: shapes, stems, parameter count, errors."""
import pytest
import torch
import torchvision
from torch import nn

from core.nn.networks import ResNet

IMAGENET = dict(firstKernelSize=7, strides=[2, 2, 1, 2, 2, 2])
CIFAR = dict(firstKernelSize=3, strides=[1, 1, 1, 2, 2, 2])


def count(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("arch, tv", [("18", torchvision.models.resnet18),
                                      ("34", torchvision.models.resnet34)])
def test_imagenet_config_has_torchvision_parameter_count(arch, tv):
    ours = ResNet(3, 512, archType=arch, **IMAGENET).build()
    theirs = tv()
    assert count(ours) == count(theirs) - count(theirs.fc)


@pytest.mark.parametrize("arch", ["18", "34"])
@pytest.mark.parametrize("size, cfg", [(32, CIFAR), (128, IMAGENET)])
def test_output_shape(arch, size, cfg):
    net = ResNet(3, 64, archType=arch, baseChNo=8, **cfg).build()
    assert net(torch.randn(2, 3, size, size)).shape == (2, 64)


def test_cifar_stem_keeps_resolution_and_imagenet_stem_divides_by_32():
    cifar = ResNet(3, 32, baseChNo=4, lastPool=False, **CIFAR).build()
    imagenet = ResNet(3, 32, baseChNo=4, lastPool=False, **IMAGENET).build()
    assert cifar(torch.randn(1, 3, 32, 32)).shape == (1, 32, 4, 4)       # 32 / 8 (stages 2-4)
    assert imagenet(torch.randn(1, 3, 128, 128)).shape == (1, 32, 4, 4)  # 128 / 32


def test_stem_pool_stride_one_means_no_pool_layer():
    net = ResNet(3, 32, baseChNo=4, strides=[1, 1, 1, 1, 1, 1]).build()
    assert isinstance(net.stemPool, nn.Identity)
    assert net.stem(torch.randn(1, 3, 9, 9)).shape[-1] == 9


@pytest.mark.parametrize("downType, layer", [("maxpool", nn.MaxPool2d), ("avgpool", nn.AvgPool2d),
                                             ("conv", nn.Sequential)])
def test_down_type_picks_the_stem_pool(downType, layer):
    net = ResNet(3, 16, baseChNo=4, downType=downType, strides=[1, 2, 1, 2, 2, 2]).build()
    assert isinstance(net.stemPool, layer)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 16)
    assert net.stemPool(torch.randn(1, 4, 32, 32)).shape[-1] == 16


def test_group_norm_with_kwargs_and_other_activation():
    net = ResNet(3, 16, baseChNo=8, norm="GroupNorm", normKwargs={"num_groups": 4},
                 activ="SiLU").build()
    assert any(isinstance(m, nn.GroupNorm) and m.num_groups == 4 for m in net.modules())
    assert any(isinstance(m, nn.SiLU) for m in net.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    net.eval()
    assert net(torch.randn(1, 3, 16, 16)).shape == (1, 16)  # batch of 1: no BatchNorm needed


def test_no_norm_gives_biased_convs():
    net = ResNet(3, 16, baseChNo=4, norm=None).build()
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.bias is not None for c in convs)


def test_out_channels_other_than_last_stage_width():
    net = ResNet(3, 100, baseChNo=4).build()
    assert net(torch.randn(2, 3, 16, 16)).shape == (2, 100)


def test_last_pool_off_returns_feature_map():
    net = ResNet(3, 32, baseChNo=4, lastPool=False).build()
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 32, 4, 4)


@pytest.mark.parametrize("kwargs, match", [
    (dict(archType="50"), "archType='50'.*'18', '34'"),
    (dict(downType="strided"), "downType='strided'.*maxpool"),
    (dict(strides=[1, 1, 2]), "strides"),
    (dict(norm="BatchNorm"), "norm='BatchNorm'.*BatchNorm2d"),
    (dict(activ="relu"), "activ='relu'.*ReLU"),
    (dict(firstKernelSize=4), "firstKernelSize"),
    (dict(nrom="BatchNorm2d"), r"unknown hyperparameter\(s\) \['nrom'\].*accepted"),
])
def test_bad_arguments_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ResNet(3, 16, **kwargs)


def test_forward_before_build_is_a_clear_error():
    with pytest.raises(RuntimeError, match="build"):
        ResNet(3, 16)(torch.randn(1, 3, 8, 8))
