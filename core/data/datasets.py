"""One factory for every dataset the trainer knows: ``build_dataset(name, split, ...)``.

Splits:

- ``'train'``: the images SimCLR pretrains on (labels unused).
- ``'memory'``: labeled training images, the kNN memory bank / probe train set.
- ``'test'``: labeled held-out images for evaluation.

=============  ======================  ============  ===========================
name           train                   memory        test
=============  ======================  ============  ===========================
CIFAR10/100    train (50k)             train         test (10k)
STL10          train+unlabeled (105k)  train (5k)    test (8k)
ImageFolder    all but held-out        = train       held-out ``valFraction``
ImageFolder    all of ``root``         = train       ``testRoot`` (when given)
Digits         all but held-out        = train       held-out ``valFraction``
Synthetic      ``syntheticImages``     1,000         1,000 others
=============  ======================  ============  ===========================

``ImageFolder`` reads ``root`` recursively: one subfolder per class gives
labels; a flat folder of images (or mixed) is unlabeled (label -1) and can be
pretrained on but not evaluated. ``Digits`` is scikit-learn's 8x8 handwritten
digits (1,797 images, shipped inside the package), turned into RGB PIL images:
the dataset that needs no download. ``Synthetic`` is random 32x32 uint8 images
with random labels out of 10, seeded: CIFAR-10's shape for speed checks, with
nothing to learn.

Every item is ``(transform(image), label)``; ``label`` is -1 when unknown.
"""
from __future__ import annotations

import functools
import logging
import shutil
import warnings
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import ConcatDataset, Dataset

from core.errors import UserInputError

log = logging.getLogger(__name__)

DATASETS = ("CIFAR10", "CIFAR100", "STL10", "ImageFolder", "Digits", "Synthetic")
SYNTHETIC_EVAL_IMAGES = 1000
SPLITS = ("train", "memory", "test")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")

# What to place where when a download is impossible (archive name, source URL).
ARCHIVES = {
    "CIFAR10": ("cifar-10-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                "cifar-10-batches-py"),
    "CIFAR100": ("cifar-100-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                 "cifar-100-python"),
    "STL10": ("stl10_binary.tar.gz", "http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz",
              "stl10_binary"),
}


class DatasetError(UserInputError):
    """A dataset cannot be found, downloaded or read; the message says what to do."""


def holdout_split(n: int, valFraction: float, seed: int, labels: Optional[np.ndarray] = None
                  ) -> Tuple[np.ndarray, np.ndarray]:
    """Deterministic train/held-out index split (stratified when labels are given).

    Returns:
        ``(trainIdx, testIdx)``, sorted int arrays that partition ``range(n)``.
    """
    rng = np.random.default_rng(seed)
    if labels is None or (labels < 0).any():
        order = rng.permutation(n)
        nTest = int(round(n * valFraction))
        return np.sort(order[nTest:]), np.sort(order[:nTest])
    testIdx = []
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        testIdx.extend(members[:int(round(len(members) * valFraction))])
    testIdx = np.sort(np.array(testIdx, dtype=np.int64))
    return np.setdiff1d(np.arange(n), testIdx), testIdx


class ArrayImages(Dataset):
    """Images kept in memory as a ``[N, H, W, 3]`` uint8 array, served as PIL images."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: Optional[Callable] = None,
                 classes: Sequence[str] = ()):
        self.images, self.labels, self.transform = images, labels, transform
        self.classes = list(classes)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        image = Image.fromarray(self.images[index])
        return (self.transform(image) if self.transform else image), int(self.labels[index])


def load_digits_rgb() -> Tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as ``[1797, 8, 8, 3]`` uint8 RGB (white on black) and labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    gray = np.clip(digits.images * (255.0 / 16.0), 0, 255).astype(np.uint8)  # values 0..16
    return np.repeat(gray[..., None], 3, axis=3), digits.target.astype(np.int64)


# What opening or decoding a bad file raises (truncated data, not an image, a decompression bomb).
UNREADABLE = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def read_rgb(path: Path) -> Image.Image:
    """Decode ``path`` as an 8-bit RGB image; 16-bit, 32-bit integer and float images are scaled, not clipped.

    ``convert("RGB")`` clips a 16-bit PNG (mode ``I;16``) to 255, which turns it white, and
    a float TIFF (mode ``F``) of values in [0, 1] to 0 or 1, which turns it black; here their
    values are scaled to 8 bits first (floats: [0, 1] when they fit, else [0, 255]).
    """
    with Image.open(path) as image:
        image.load()
        if image.mode == "F":
            values = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
            top = 1.0 if values.max(initial=0.0) <= 1.0 else 255.0
            scaled = np.clip(values * (255.0 / top), 0, 255).round().astype(np.uint8)
            return Image.fromarray(scaled, mode="L").convert("RGB")
        if image.mode.startswith("I"):
            values = np.asarray(image).astype(np.int64)
            top = 65535 if image.mode.startswith("I;16") or values.max(initial=0) > 255 else 255
            scaled = np.clip(values * 255 // max(top, 1), 0, 255).astype(np.uint8)
            return Image.fromarray(scaled, mode="L").convert("RGB")
        return image.convert("RGB")


class ImageFiles(Dataset):
    """A folder of image files, recursively; class = first subfolder, or -1 when flat.

    Files that cannot be opened are left out when the folder is scanned
    (``scan_image_folder``), with one warning each naming the file.
    """

    def __init__(self, files: List[Path], labels: List[int], classes: List[str],
                 transform: Optional[Callable] = None):
        self.files, self.labels, self.classes, self.transform = files, labels, classes, transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        """``(transform(image), label)``; a file that fails to decode is replaced by the next readable one.

        A file can pass the scan (its header is fine) and still fail to decode (a truncated
        JPEG). It is then skipped with one warning naming it, and the item is the next file
        that decodes, so the epoch keeps its length and a resumed run sees the same images.
        """
        for offset in range(len(self.files)):
            position = (index + offset) % len(self.files)
            try:
                image = read_rgb(self.files[position])
            except UNREADABLE as err:
                self.warn_once(self.files[position], err)
                continue
            return (self.transform(image) if self.transform else image), self.labels[position]
        raise DatasetError(f"ImageFolder: none of the {len(self.files)} images decodes")

    def warn_once(self, path: Path, err: Exception) -> None:
        warned = self.__dict__.setdefault("_warned", set())   # per process (each DataLoader worker has its own)
        if path not in warned:
            warned.add(path)
            log.warning("ImageFolder: skipping %s, which cannot be decoded (%s: %s)", path, type(err).__name__, err)


MAX_PIXELS = 40_000_000   # data.maxPixels' default: a 40-megapixel photo decodes to 120 MB; larger are skipped


def scan_image_folder(root: Path, maxPixels: int = MAX_PIXELS) -> Tuple[List[Path], List[int], List[str], List[Path]]:
    """Find images under ``root``; returns ``(files, labels, classes, skipped)``.

    Files that do not open, and images of more than ``maxPixels`` pixels (a 12 KB PNG can
    declare 10000 x 10000 and decode to 300 MB each time it is read), are skipped with one
    warning each that names them.

    Opening every file is the slow part of a large folder, so the result is
    cached per folder and its modification time: the train, memory and test
    splits of one run scan it once.

    Raises:
        DatasetError: ``root`` is missing or holds no readable image.
    """
    if not root.is_dir():
        raise DatasetError(f"ImageFolder: data.rootPath={str(root)!r} is not a folder; "
                           "point it at a folder of images (one subfolder per class for labels)")
    return _scan(root, root.stat().st_mtime_ns, maxPixels)


@functools.lru_cache(maxsize=4)
def _scan(root: Path, mtime: int, maxPixels: int) -> Tuple[List[Path], List[int], List[str], List[Path]]:
    candidates = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    files, skipped = [], []
    for path in candidates:
        try:
            with Image.open(path) as image:
                pixels = image.width * image.height
                image.verify()
            if pixels > maxPixels:
                skipped.append(path)
                warnings.warn(f"ImageFolder: skipping {path}: {pixels:,} pixels, more than data.maxPixels="
                              f"{maxPixels:,}", stacklevel=2)
                continue
            files.append(path)
        except UNREADABLE as err:
            skipped.append(path)
            warnings.warn(f"ImageFolder: skipping unreadable image {path} ({type(err).__name__})", stacklevel=2)
    if not files:
        raise DatasetError(f"ImageFolder: no readable image ({', '.join(IMAGE_EXTENSIONS)}) "
                           f"under {str(root)!r}")
    topDirs = [p.relative_to(root).parts[0] if len(p.relative_to(root).parts) > 1 else None for p in files]
    classes = sorted({d for d in topDirs if d is not None})
    if classes and None not in topDirs:
        labels = [classes.index(d) for d in topDirs]
    else:
        classes, labels = [], [-1] * len(files)
    return files, labels, classes, skipped


def _torchvision_dataset(name: str, root: Path, split: str, transform, download: bool):
    import torchvision.datasets as tvd

    existed = root.exists()
    try:
        if name in ("CIFAR10", "CIFAR100"):
            cls = getattr(tvd, name)
            return cls(str(root), train=split != "test", transform=transform, download=download)
        stlSplit = {"train": "train+unlabeled", "memory": "train", "test": "test"}[split]
        return tvd.STL10(str(root), split=stlSplit, transform=transform, download=download)
    except Exception as err:  # offline downloads raise URLError, RuntimeError, OSError...
        if not existed:       # the folder (and any partial download in it) is this attempt's: leave nothing
            shutil.rmtree(root, ignore_errors=True)
        archive, url, folder = ARCHIVES[name]
        why = (f"could not be downloaded ({type(err).__name__})" if download
               else "data.download is off")
        raise DatasetError(
            f"{name} is not in {str(root)!r} and {why}; download {url} and put {archive} in "
            f"{str(root)!r} (or extract it there as {str(root / folder)!r})") from err


def build_dataset(name: str, split: str, root: str = "assets/datasets",
                  transform: Optional[Callable] = None, download: bool = True,
                  valFraction: float = 0.2, seed: int = 0, testRoot: Optional[str] = None,
                  maxPixels: int = MAX_PIXELS, syntheticImages: int = 50_000) -> Dataset:
    """Build dataset ``name`` for ``split`` (see the module docstring).

    Args:
        name: one of ``DATASETS``.
        split: ``'train'``, ``'memory'`` or ``'test'``.
        root: download folder (torchvision datasets) or image folder (ImageFolder).
        transform: applied to each PIL image.
        download: let torchvision download missing archives.
        valFraction: held-out fraction for ImageFolder and Digits.
        seed: seed of the held-out split (fixed per dataset, not per run).
        testRoot: ImageFolder only: a separate test folder with the same class subfolders as
            ``root``; then every image of ``root`` trains (no held-out part) and ``'test'`` reads it.
        maxPixels: ImageFolder only: larger images are skipped with a warning naming them.
        syntheticImages: Synthetic only: the training split's size.

    Raises:
        ValueError: unknown ``name`` or ``split``.
        DatasetError: the data is missing and cannot be downloaded, or empty.
    """
    if name not in DATASETS:
        raise ValueError(f"data.dataset={name!r} is not supported; accepted: {list(DATASETS)}")
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is not supported; accepted: {list(SPLITS)}")
    if not 0 <= valFraction < 1:
        raise ValueError(f"valFraction={valFraction!r} must be in [0, 1)")
    rootPath = Path(root)
    if name in ARCHIVES:
        return _torchvision_dataset(name, rootPath, split, transform, download)
    if name == "Digits":
        images, labels = load_digits_rgb()
        trainIdx, testIdx = holdout_split(len(images), valFraction, seed, labels)
        idx = testIdx if split == "test" else trainIdx
        return ArrayImages(images[idx], labels[idx], transform, [str(c) for c in range(10)])
    if name == "Synthetic":
        count = syntheticImages if split == "train" else SYNTHETIC_EVAL_IMAGES
        rng = np.random.default_rng(SPLITS.index(split))   # one seed per split
        return ArrayImages(rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8),
                           rng.integers(0, 10, count), transform, [str(c) for c in range(10)])
    if testRoot:
        return _train_and_test_folders(rootPath, Path(testRoot), split, transform, maxPixels)
    files, labels, classes, skipped = scan_image_folder(rootPath, maxPixels)
    if skipped:
        log.warning("ImageFolder: skipped %d unreadable file(s) under %s", len(skipped), rootPath)
    labelArray = np.array(labels)
    trainIdx, testIdx = holdout_split(len(files), valFraction if classes else 0.0, seed, labelArray)
    idx = testIdx if split == "test" else trainIdx
    return ImageFiles([files[i] for i in idx], [labels[i] for i in idx], classes, transform)


def _train_and_test_folders(root: Path, testRoot: Path, split: str, transform, maxPixels: int) -> Dataset:
    """ImageFolder with a separate test folder: ``'train'``/``'memory'`` = all of ``root``, ``'test'`` = ``testRoot``.

    Raises:
        DatasetError: a folder is missing or empty, or the two have different class subfolders.
    """
    if not testRoot.is_dir():
        raise DatasetError(f"ImageFolder: data.testPath={str(testRoot)!r} is not a folder; point it at the test "
                           "images (the same class subfolders as data.rootPath), or leave it empty")
    files, labels, classes, skipped = scan_image_folder(root, maxPixels)
    testFiles, testLabels, testClasses, _ = scan_image_folder(testRoot, maxPixels)
    if classes != testClasses:
        only = sorted(set(classes) ^ set(testClasses))
        raise DatasetError(f"ImageFolder: data.testPath={str(testRoot)!r} has the classes {testClasses} but "
                           f"data.rootPath={str(root)!r} has {classes}; the class subfolders must be the same "
                           f"(differing: {only})")
    if split == "test":
        return ImageFiles(list(testFiles), list(testLabels), testClasses, transform)
    return ImageFiles(list(files), list(labels), classes, transform)


def dataset_labels(dataset: Dataset) -> Optional[torch.Tensor]:
    """All labels of a dataset as a ``[N]`` long tensor, or None if it has none.

    Reads the label attribute each dataset type keeps (no image decoding).
    """
    if isinstance(dataset, ConcatDataset):
        parts = [dataset_labels(d) for d in dataset.datasets]
        return None if any(p is None for p in parts) else torch.cat(parts)
    for attr in ("labels", "targets"):
        values = getattr(dataset, attr, None)
        if values is not None:
            labels = torch.as_tensor(np.asarray(values), dtype=torch.long)
            return None if len(labels) == 0 or bool((labels < 0).any()) else labels
    return None
