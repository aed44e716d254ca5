"""The dataset factory: Digits, ImageFolder, CIFAR-10 from its archive, offline errors."""
import urllib.error

import numpy as np
import pytest
import torch
from PIL import Image

from core.data.datasets import DatasetError, build_dataset, dataset_labels, holdout_split
from tests.conftest import write_image_folder


def test_digits_splits_are_disjoint_rgb_and_labeled():
    train = build_dataset("Digits", "train")
    test = build_dataset("Digits", "test")
    assert len(train) + len(test) == 1797 and len(test) == pytest.approx(0.2 * 1797, abs=10)
    image, label = train[0]
    assert isinstance(image, Image.Image) and image.mode == "RGB" and image.size == (8, 8)
    assert 0 <= label < 10
    trainSet = {train.images[i].tobytes() for i in range(len(train))}
    assert sum(test.images[i].tobytes() in trainSet for i in range(len(test))) < 5  # a few exact duplicates
    assert torch.equal(dataset_labels(test), torch.as_tensor(test.labels))


def test_holdout_split_is_stratified_and_deterministic():
    labels = np.repeat(np.arange(4), 25)
    train, test = holdout_split(100, 0.2, seed=3, labels=labels)
    assert len(test) == 20 and set(np.bincount(labels[test])) == {5}
    assert np.array_equal(test, holdout_split(100, 0.2, seed=3, labels=labels)[1])
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(100))


def test_image_folder_with_class_subfolders(tmp_path):
    root = write_image_folder(tmp_path / "imgs", perClass=10)
    train = build_dataset("ImageFolder", "train", root=str(root), valFraction=0.2)
    test = build_dataset("ImageFolder", "test", root=str(root), valFraction=0.2)
    assert (len(train), len(test)) == (16, 4)
    assert train.classes == ["cat", "dog"]
    assert sorted(dataset_labels(test).tolist()) == [0, 0, 1, 1]
    assert not set(train.files) & set(test.files)


def test_flat_image_folder_is_unlabeled(tmp_path):
    root = write_image_folder(tmp_path / "flat", flat=True, perClass=5)
    train = build_dataset("ImageFolder", "train", root=str(root))
    assert len(train) == 10 and dataset_labels(train) is None
    assert len(build_dataset("ImageFolder", "test", root=str(root))) == 0


def test_corrupt_file_is_skipped_with_a_warning_naming_it(tmp_path):
    root = write_image_folder(tmp_path / "imgs", perClass=4)
    bad = root / "cat" / "broken.png"
    bad.write_bytes(b"not an image")
    with pytest.warns(UserWarning, match="broken.png"):
        data = build_dataset("ImageFolder", "train", root=str(root), valFraction=0.0)
    assert len(data) == 8 and bad not in data.files


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_missing_or_empty_image_folder(tmp_path, make):
    root = tmp_path / "nothing"
    if make == "empty":
        root.mkdir()
    with pytest.raises(DatasetError, match="ImageFolder"):
        build_dataset("ImageFolder", "train", root=str(root))


def test_cifar10_from_a_local_archive(tiny_cifar):
    train = build_dataset("CIFAR10", "train", root=str(tiny_cifar))
    test = build_dataset("CIFAR10", "test", root=str(tiny_cifar))
    assert (len(train), len(test)) == (40, 20)
    image, label = train[0]
    assert image.size == (32, 32) and 0 <= label < 10
    assert (tiny_cifar / "cifar-10-batches-py" / "test_batch").is_file()  # extracted by torchvision
    assert dataset_labels(test).tolist() == [i % 10 for i in range(20)]


def test_offline_download_says_which_file_to_put_where(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as cifar

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(cifar, "download_and_extract_archive", offline)
    with pytest.raises(DatasetError) as err:
        build_dataset("CIFAR10", "train", root=str(tmp_path))
    message = str(err.value)
    assert "cifar-10-python.tar.gz" in message and str(tmp_path) in message
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in message
    assert "\n" not in message


def test_unknown_dataset_and_split():
    with pytest.raises(ValueError, match=r"data.dataset='MNIST'.*'CIFAR10'"):
        build_dataset("MNIST", "train")
    with pytest.raises(ValueError, match="split='val'"):
        build_dataset("Digits", "val")


def test_stl10_pretrains_on_train_plus_unlabeled(tmp_path, monkeypatch):
    """STL-10 in its real binary layout (generated), md5 sums patched to the generated files."""
    import hashlib

    import numpy as np
    import torchvision.datasets as tvd

    folder = tmp_path / "stl10_binary"
    folder.mkdir()
    rng = np.random.default_rng(0)
    files = {
        "train_X.bin": rng.integers(0, 256, (10, 3, 96, 96), dtype=np.uint8).tobytes(),
        "train_y.bin": (np.arange(10) % 10 + 1).astype(np.uint8).tobytes(),      # labels are 1-based
        "unlabeled_X.bin": rng.integers(0, 256, (6, 3, 96, 96), dtype=np.uint8).tobytes(),
        "test_X.bin": rng.integers(0, 256, (5, 3, 96, 96), dtype=np.uint8).tobytes(),
        "test_y.bin": np.array([1, 2, 3, 4, 5], np.uint8).tobytes(),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    (folder / "class_names.txt").write_text("\n".join(f"c{i}" for i in range(10)))
    digest = {name: hashlib.md5(data).hexdigest() for name, data in files.items()}
    trainFiles = ("train_X.bin", "train_y.bin", "unlabeled_X.bin")
    monkeypatch.setattr(tvd.STL10, "train_list", [[n, digest[n]] for n in trainFiles])
    monkeypatch.setattr(tvd.STL10, "test_list", [[n, digest[n]] for n in ("test_X.bin", "test_y.bin")])
    train = build_dataset("STL10", "train", root=str(tmp_path))
    memory = build_dataset("STL10", "memory", root=str(tmp_path))
    test = build_dataset("STL10", "test", root=str(tmp_path))
    assert (len(train), len(memory), len(test)) == (16, 10, 5)
    assert dataset_labels(train) is None  # the unlabeled part has label -1
    assert dataset_labels(memory).tolist() == list(range(10))
    assert dataset_labels(test).tolist() == [0, 1, 2, 3, 4]
    assert train[12][0].size == (96, 96)


def test_an_image_that_fails_to_decode_is_replaced_by_the_next(tmp_path, caplog):
    root = write_image_folder(tmp_path / "images", perClass=3, size=24)
    good = root / "cat" / "cat_1.png"
    jpeg = root / "cat" / "cat_1.jpg"
    Image.open(good).save(jpeg, quality=90)
    good.unlink()
    data = jpeg.read_bytes()
    jpeg.write_bytes(data[:len(data) - 100])            # truncated: passes the scan, fails to decode
    data = build_dataset("ImageFolder", "train", root=str(root), valFraction=0.0)
    index = data.files.index(jpeg)
    assert len(data) == 6
    image, label = data[index]
    assert image.size == (24, 24) and label == data.labels[index + 1]   # the next file stands in
    data[index]
    assert caplog.text.count(f"skipping {jpeg}") == 1                  # one warning per file


def test_decompression_bomb_is_skipped_at_the_scan(tmp_path, monkeypatch):
    root = write_image_folder(tmp_path / "images", perClass=2, size=20)
    Image.new("L", (200, 200)).save(root / "dog" / "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)            # 200 x 200 > 2 x the limit: a bomb here
    with pytest.warns(UserWarning, match="skipping unreadable image .*huge.png"):
        data = build_dataset("ImageFolder", "train", root=str(root / ".." / "images"), valFraction=0.0)
    assert len(data) == 4


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    folder = tmp_path / "deep" / "a"
    folder.mkdir(parents=True)
    values = np.array([[0, 16384], [32768, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(folder / "x.png")
    image, _ = build_dataset("ImageFolder", "train", root=str(tmp_path / "deep"), valFraction=0.0)[0]
    assert np.array(image)[:, :, 0].tolist() == [[0, 63], [127, 255]]


def test_images_above_the_pixel_limit_are_skipped_and_named(tmp_path):
    root = write_image_folder(tmp_path / "images", perClass=2, size=20)
    Image.new("L", (50, 40)).save(root / "dog" / "large.png")         # 2,000 pixels, a small file
    with pytest.warns(UserWarning, match=r"skipping .*large.png: 2,000 pixels, more than data.maxPixels=1,000"):
        data = build_dataset("ImageFolder", "train", root=str(root), valFraction=0.0, maxPixels=1000)
    assert len(data) == 4 and not any(f.name == "large.png" for f in data.files)
    assert len(build_dataset("ImageFolder", "train", root=str(root), valFraction=0.0)) == 5   # default limit


@pytest.mark.parametrize("values, expected", [([[0.0, 0.25], [0.5, 1.0]], [[0, 64], [128, 255]]),
                                              ([[0.0, 64.0], [128.0, 300.0]], [[0, 64], [128, 255]])])
def test_float_tiff_is_scaled_not_black(tmp_path, values, expected):
    folder = tmp_path / "float" / "a"
    folder.mkdir(parents=True)
    Image.fromarray(np.array(values, dtype=np.float32), mode="F").save(folder / "x.tif")
    image, _ = build_dataset("ImageFolder", "train", root=str(tmp_path / "float"), valFraction=0.0)[0]
    assert np.array(image)[:, :, 0].tolist() == expected


def test_a_failed_download_leaves_no_folder(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    def offline(self, *args, **kwargs):
        (tmp_path / "fresh" / "partial.tmp").write_text("half a download")
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(tvd.CIFAR10, "download", offline)
    with pytest.raises(DatasetError, match="could not be downloaded"):
        build_dataset("CIFAR10", "train", root=str(tmp_path / "fresh"), download=True)
    assert not (tmp_path / "fresh").exists()
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "mine.txt").write_text("the user's file")
    monkeypatch.setattr(tvd.CIFAR10, "download", lambda self: (_ for _ in ()).throw(urllib.error.URLError("x")))
    with pytest.raises(DatasetError):
        build_dataset("CIFAR10", "train", root=str(tmp_path / "kept"), download=True)
    assert (tmp_path / "kept" / "mine.txt").read_text() == "the user's file"
