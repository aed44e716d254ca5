"""One ``imgSize`` rule everywhere: an int (square) or an ``(H, W)`` pair, the same refusal for anything else."""
import pytest
import torch
from PIL import Image

from core.data.batch_augmentation import BatchImageTransforms, LoadTransform, crop_resize_flip
from core.data.data_augmentation import EvalTransform
from train.config import ConfigError, load_config

MAKERS = {
    "EvalTransform": lambda size: EvalTransform(size)(Image.new("RGB", (40, 30))),
    "LoadTransform": lambda size: LoadTransform(size)(Image.new("RGB", (40, 30))),
    "BatchImageTransforms": lambda size: batched_view(BatchImageTransforms(size)),
}


def batched_view(transform):
    """The batched recipe's resize to ``transform.size`` of a whole 30 x 40 image (the sampling is Task 1's)."""
    box, flip = torch.tensor([[0.0, 0.0, 30.0, 40.0]]), torch.zeros(1)
    return crop_resize_flip(torch.zeros(1, 3, 30, 40), box, flip, transform.size)[0]


@pytest.mark.parametrize("maker", MAKERS)
@pytest.mark.parametrize("size, shape", [(12, (12, 12)), ((16, 24), (16, 24)), ([24, 16], (24, 16))])
def test_every_transform_takes_an_int_or_a_pair(maker, size, shape):
    assert tuple(MAKERS[maker](size).shape) == (3, *shape)


@pytest.mark.parametrize("maker", MAKERS)
@pytest.mark.parametrize("size", [0, -3, 2.5, "32", (16,), (16, 0), (16, 24, 3), True])
def test_every_transform_refuses_the_same_sizes(maker, size):
    with pytest.raises(ValueError, match=r"imgSize=.* must be a positive integer or an \(H, W\) pair"):
        MAKERS[maker](size)


def test_the_config_takes_the_same_sizes():
    assert load_config(None, ["data.imgSize", "[16, 24]"]).data.imgSize == [16, 24]
    assert load_config(None, ["data.imgSize", "16"]).data.imgSize == 16
    for bad in ("[16]", "[16, 0]", "0", "[16, 24, 3]", "'32'"):
        with pytest.raises(ConfigError, match="data.imgSize"):
            load_config(None, ["data.imgSize", bad])
