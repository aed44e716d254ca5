"""The training run's data, from the config's ``data`` section: the two-view training set and its loader,
and the labeled splits the evaluation reads.

Each epoch's order comes from ``EpochSampler`` (this process's share under torchrun), seeded by
(seed, epoch) alone, so a resumed run replays what an uninterrupted one would.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import torch

from core.data.batch_augmentation import BatchImageTransforms
from core.data.data_augmentation import EvalTransform
from core.data.datasets import dataset_labels
from core.data.device_batches import DeviceBatches, stack_batches
from core.data.samplers import EpochSampler, SeededItems
from train.augmentation_setup import build_augmentation, keep_on_device
from train.builders import config_value, dataset_from_config, make_loader
from train.config import ConfigError


class TrainData(NamedTuple):
    """What the trainer reads its batches and evaluation images from."""

    augment: Callable                              # the dataset's transform (two views, or uint8 images)
    batchAugment: Optional[BatchImageTransforms]   # views made per batch on the device (data.augDevice cuda)
    trainSet: Any
    memorySet: Any                                 # the kNN bank (eval transform)
    testSet: Any                                   # the held-out split (eval transform)
    labeled: bool                                  # both evaluation splits have labels
    sampler: EpochSampler
    loaderGenerator: torch.Generator               # reseeded every epoch
    trainLoader: Any                               # a DataLoader, or DeviceBatches when kept on the device
    dataNote: Optional[str]                        # a line for the log when the data is kept on the device


def build_train_data(cfg, device: torch.device, rank: int = 0, worldSize: int = 1) -> TrainData:
    """The run's ``TrainData``.

    Raises:
        ConfigError, DatasetError: a value or dataset that cannot be used (e.g. a batch larger than the
            training set).
    """
    data = cfg.data
    augment, batchAugment = config_value("data", lambda: build_augmentation(data, device))
    trainSet = dataset_from_config(data, "train", augment)
    if len(trainSet) < cfg.train.trainBatch * worldSize:
        times = f" x {worldSize} processes" if worldSize > 1 else ""
        raise ConfigError(f"train.trainBatch={cfg.train.trainBatch}{times} is larger than the training "
                          f"set ({len(trainSet)} images of {data.dataset}); lower it")
    evalTransform = EvalTransform(data.imgSize)
    memorySet = dataset_from_config(data, "memory", evalTransform)
    testSet = dataset_from_config(data, "test", evalTransform)
    labeled = (len(memorySet) > 0 and len(testSet) > 0
               and dataset_labels(memorySet) is not None and dataset_labels(testSet) is not None)
    generator = torch.Generator()
    # This process's share of each epoch's permutation (all of it without torchrun). Workers that augment
    # make each image's views from its own seed (a worker's stream would restart on a resume mid-epoch).
    seeded = data.numWorkers > 0 and batchAugment is None
    sampler = EpochSampler(len(trainSet), seed=cfg.general.seed, rank=rank, worldSize=worldSize, seeded=seeded)
    keep, note = keep_on_device(data, batchAugment, len(trainSet), device)
    if keep:
        images, labels = stack_batches(make_loader(trainSet, cfg.train.valBatch, data.numWorkers, device), device)
        loader = DeviceBatches(images, labels, cfg.train.trainBatch, sampler)
    else:
        loader = make_loader(SeededItems(trainSet) if seeded else trainSet, cfg.train.trainBatch, data.numWorkers,
                             device, sampler=sampler, generator=generator, train=True)
    return TrainData(augment, batchAugment, trainSet, memorySet, testSet, labeled, sampler, generator, loader, note)
