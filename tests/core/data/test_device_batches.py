"""core/data/device_batches.py and the decision to keep a training set on the device (train/augmentation_setup.py)."""
from types import SimpleNamespace

import pytest
import torch

from core.data.batch_augmentation import BatchImageTransforms
from core.data.device_batches import DeviceBatches, stack_batches
from core.data.samplers import EpochSampler
from tests.cuda_mock import MockCuda


def images_and_labels(count=50, side=8):
    images = torch.arange(count * 3 * side * side).reshape(count, 3, side, side).remainder(256).to(torch.uint8)
    return images, torch.arange(count) % 7


def test_batches_follow_the_sampler_and_drop_the_last_partial_batch():
    images, labels = images_and_labels()
    sampler = EpochSampler(50, seed=3)
    sampler.set_epoch(2)
    batches = list(DeviceBatches(images, labels, 16, sampler))
    order = list(sampler)
    assert len(batches) == len(DeviceBatches(images, labels, 16, sampler)) == 3
    for number, (got, gotLabels) in enumerate(batches):
        index = torch.tensor(order[number * 16:(number + 1) * 16])
        assert got.dtype == torch.uint8 and torch.equal(got, images[index]) and torch.equal(gotLabels, labels[index])


def test_a_resume_mid_epoch_continues_with_the_same_batches():
    images, labels = images_and_labels()
    full, part = EpochSampler(50, seed=1), EpochSampler(50, seed=1)
    full.set_epoch(4)
    part.set_epoch(4, startIndex=16)
    assert [torch.equal(a[0], b[0]) for a, b in zip(list(DeviceBatches(images, labels, 16, full))[1:],
                                                    DeviceBatches(images, labels, 16, part))] == [True, True]


def test_stack_batches_refuses_what_is_not_uint8_images():
    images, labels = images_and_labels(8)
    stacked, stackedLabels = stack_batches([(images[:5], labels[:5]), (images[5:], labels[5:])], torch.device("cpu"))
    assert torch.equal(stacked, images) and torch.equal(stackedLabels, labels)
    with pytest.raises(ValueError, match="uint8"):
        stack_batches([(images.float(), labels)], torch.device("cpu"))


def data(keep="auto", size=32):
    return SimpleNamespace(keepOnDevice=keep, imgSize=size)


def test_keep_on_device_only_with_the_batched_recipe_and_when_it_fits(monkeypatch):
    from train import augmentation_setup as augmentation

    batched = BatchImageTransforms(32)
    cpu = torch.device("cpu")
    assert augmentation.keep_on_device(data(), None, 50000, cpu) == (False, "")
    assert augmentation.keep_on_device(data("off"), batched, 50000, cpu)[0] is False
    monkeypatch.setattr(augmentation, "free_memory", lambda device: 4 * 50000 * 3 * 32 * 32)   # exactly 1/4
    keep, note = augmentation.keep_on_device(data(), batched, 50000, cpu)
    assert keep and "50000 training images (146 MB as uint8) kept on cpu" in note
    assert not augmentation.keep_on_device(data(), batched, 50001, cpu)[0]
    assert augmentation.keep_on_device(data("on"), batched, 50001, cpu)[0]


def test_keep_on_device_reads_the_gpus_free_memory(monkeypatch):
    from core.nn.utils.device import enter_device
    from train import augmentation_setup as augmentation

    MockCuda(monkeypatch, count=1, free=2 ** 30)
    keep, note = augmentation.keep_on_device(data(), BatchImageTransforms(32), 50000, enter_device("cuda"))
    assert keep and "kept on cuda:0 (1024 MB free)" in note                # CIFAR-10: 146 MB of 1 GB
    assert not augmentation.keep_on_device(data(size=96), BatchImageTransforms(96), 105000, enter_device("cuda"))[0]
