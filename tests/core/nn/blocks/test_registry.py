"""Normalization and activation lookup by PyTorch name."""
import pytest
from torch import nn

from core.nn.blocks import ConvBlock, LinearBlock, make_activation, make_norm


@pytest.mark.parametrize("name, cls", [("BatchNorm2d", nn.BatchNorm2d), ("GroupNorm", nn.GroupNorm),
                                       ("InstanceNorm2d", nn.InstanceNorm2d), (None, nn.Identity),
                                       ("None", nn.Identity)])
def test_conv_norms(name, cls):
    assert isinstance(make_norm(name, 16, "conv"), cls)


def test_norm_kwargs_reach_the_layer():
    assert make_norm("GroupNorm", 16, num_groups=2).num_groups == 2
    assert make_norm("GroupNorm", 48).num_groups == 16  # gcd(32, 48)
    assert make_norm("BatchNorm1d", 8, "linear", momentum=0.2).momentum == 0.2


def test_unknown_names_list_the_accepted_ones():
    with pytest.raises(ValueError, match=r"norm='BatchNorm1d'.*\['BatchNorm2d'"):
        make_norm("BatchNorm1d", 8, "conv")
    with pytest.raises(ValueError, match=r"activ='Swish'.*'SiLU'"):
        make_activation("Swish")


def test_activation_kwargs():
    act = make_activation("LeakyReLU", negative_slope=0.3)
    assert isinstance(act, nn.LeakyReLU) and act.negative_slope == 0.3


def test_blocks_skip_bias_before_norm():
    assert ConvBlock(3, 8)[0].bias is None
    assert ConvBlock(3, 8, norm=None)[0].bias is not None
    assert len(LinearBlock(4, 4, activ=None)) == 1
