"""Config -> objects, in one place: the model, the loaders, and the translation of bad values into ConfigError.

The trainer, the evaluation CLIs (fine-tuning included) and the benchmarks make
their DataLoaders with ``make_loader``; the model of a run comes from ``build_model``.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate

from core.nn.networks import SimCLR
from core.nn.utils.device import loader_options
from train.config import ConfigError


def config_value(section: str, build: Callable[[], Any]) -> Any:
    """``build()``, with a ``ValueError`` of a core module turned into a ``ConfigError``.

    Core modules check their keyword arguments with ``ValueError`` (naming the
    argument and what is allowed); built from the config's ``section``, that is an
    input error the CLIs report in one line (the cause stays chained for --debug).
    """
    try:
        return build()
    except ConfigError:
        raise
    except ValueError as err:          # the message already names the argument and what is allowed
        raise ConfigError(str(err)) from err


def build_model(model, modelArgs: Optional[dict] = None) -> SimCLR:
    """``SimCLR`` from the config's ``model`` section (or from a checkpoint's ``modelArgs``), built and initialized.

    Raises:
        ConfigError: a model value that ``SimCLR``, ``ResNet`` or ``MLP`` rejects.
    """
    if modelArgs is not None:
        return config_value("model", lambda: SimCLR(**dict(modelArgs)).build().init_weights())
    return config_value("model", lambda: SimCLR(model).build().init_weights())


def dataset_from_config(data, split: str, transform: Optional[Callable] = None) -> Dataset:
    """``split`` ('train', 'memory' or 'test') of the config's ``data`` section, as every loop reads it.

    Raises:
        ConfigError / DatasetError: a bad value, or data that is missing or cannot be read.
    """
    from core.data.datasets import build_dataset

    return config_value("data", lambda: build_dataset(
        data.dataset, split, root=data.rootPath, transform=transform, download=data.download,
        valFraction=data.valFraction, seed=0, testRoot=data.testPath or None, maxPixels=data.maxPixels,
        syntheticImages=data.syntheticImages))


def make_loader(dataset: Dataset, batchSize: int, workers: int, device: torch.device,
                sampler: Optional[Sampler] = None, generator: Optional[torch.Generator] = None,
                train: bool = False, shuffle: bool = False, dropLast: Optional[bool] = None) -> DataLoader:
    """The DataLoader of every loop in the project: pretraining, fine-tuning, evaluation and the benchmarks.

    Args:
        train: pretraining (the sampler decides the order; full batches only).
        shuffle: a random order from ``generator`` (fine-tuning); no sampler then.
        dropLast: drop the last, smaller batch (default: only when ``train``).

    Pinned memory and persistent workers follow the device (``core.nn.utils.device.loader_options``).
    Workers leave Ctrl-C, SIGTERM and SIGHUP to the main process (``worker_ignores_stop_signals``):
    a signal to the whole process group (``timeout``, SLURM, Kubernetes) then stops the run as a
    signal to the main process alone does, at the step, with a checkpoint.
    """
    return DataLoader(
        dataset, batch_size=batchSize, sampler=sampler, shuffle=shuffle,
        drop_last=train if dropLast is None else dropLast, num_workers=workers,
        prefetch_factor=4 if workers > 0 else None, generator=generator if (train or shuffle) else None,
        worker_init_fn=worker_ignores_stop_signals if workers > 0 else None, **loader_options(device, workers, train))


def worker_ignores_stop_signals(workerId: int) -> None:
    """A DataLoader worker's start: ignore the stop signals, which the main process handles.

    The main process finishes its step, saves and stops its workers itself; a worker that died of
    the group's SIGTERM would instead make the DataLoader raise "worker is killed by signal". The
    worker is killed when the main process dies (``end_with_the_parent``).
    """
    import signal

    from train.stops import STOP_SIGNALS

    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    end_with_the_parent()


def end_with_the_parent() -> None:
    """Linux: this process gets SIGKILL when its parent dies, however it dies (an OOM kill, ``kill -9``).

    So a DataLoader worker never outlives the run (elsewhere PyTorch's own watchdog ends it within seconds).
    """
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)       # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass


def check_one_image(model, trainSet, batchAugment, device: torch.device, imgSize: int) -> None:
    """One training image through the augmentation and the model (eval mode, no grad), RNG untouched.

    A ``data.imgSize`` too small for the recipe or the encoder then fails at start, in one line,
    before anything is written, instead of at the first step.

    Raises:
        ConfigError: naming ``data.imgSize`` and what went wrong.
    """
    from train.augmentation_setup import views_on_device
    from core.nn.utils.randomness import capture_rng, restore_rng

    state = capture_rng()
    try:
        views = views_on_device(default_collate([trainSet[0][0]]), batchAugment, device)
        model.eval()
        with torch.no_grad():
            model(torch.cat(views))
    except (RuntimeError, ValueError) as err:
        raise ConfigError(f"data.imgSize={imgSize}: a training image could not go through the augmentation and "
                          f"the encoder ({type(err).__name__}: {str(err).splitlines()[0]}); use a larger "
                          "data.imgSize or fewer stride-2 steps in model.kwargs.encoderStrides") from err
    finally:
        model.train()
        restore_rng(state)
