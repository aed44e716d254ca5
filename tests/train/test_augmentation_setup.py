"""Which augmentation a config builds, and how a loader batch becomes two views on the device."""
import pytest
import torch

from core.data.batch_augmentation import BatchImageTransforms, LoadTransform
from core.data.data_augmentation import ImageTransforms
from train.augmentation_setup import build_augmentation, views_on_device
from train.config import load_config


@pytest.mark.task1  # builds Task 1's ImageTransforms (with the backend fixture: the unwritten one is skipped)
@pytest.mark.parametrize("blur, want", [("on", True), ("off", False), ("auto", False)])
def test_cpu_augments_each_image_with_the_configured_recipe(backend, blur, want):
    opts = ["data.imgSize", "16", "data.augBackend", backend, "data.jitterStrength", "0.3",
            "data.minScale", "0.4", "data.blur", blur]
    transform, batched = build_augmentation(load_config(None, opts).data, torch.device("cpu"))
    assert isinstance(transform, ImageTransforms) and batched is None
    assert (transform.backend, transform.jitterStrength, transform.minScale, transform.blur, transform.size) == \
        (backend, 0.3, 0.4, want, (16, 16))
    pair = [torch.zeros(4, 3, 16, 16), torch.ones(4, 3, 16, 16)]
    viewA, viewB = views_on_device(pair, None, torch.device("cpu"))
    assert torch.equal(viewA, pair[0]) and torch.equal(viewB, pair[1])      # two views, in order, not one twice


@pytest.mark.task1
def test_cuda_without_the_batched_recipe_falls_back_to_task_1(caplog, monkeypatch):
    def unwritten(self, *args, **kwargs):
        raise NotImplementedError("Task 1 (optional, batched views): not written")

    monkeypatch.setattr(BatchImageTransforms, "sample_params", unwritten)
    cfg = load_config(None, ["data.imgSize", "16", "data.augDevice", "cuda"])
    transform, batched = build_augmentation(cfg.data, torch.device("cpu"))
    assert isinstance(transform, ImageTransforms) and batched is None
    assert "batched recipe (optional part of Task 1" in caplog.text


@pytest.mark.task1_optional
def test_cuda_batches_the_augmentation_on_the_device(caplog):
    BatchImageTransforms(16).sample_params(1, 8, 8)   # the optional recipe: skips here until it is written
    cfg = load_config(None, ["data.imgSize", "16", "data.augDevice", "cuda", "data.blur", "on"])
    transform, batched = build_augmentation(cfg.data, torch.device("cpu"))
    assert isinstance(transform, LoadTransform) and isinstance(batched, BatchImageTransforms) and batched.blur
    assert "data.augDevice=cuda but this run is on cpu" in caplog.text
    raw = torch.randint(0, 256, (4, 3, 20, 20), dtype=torch.uint8)
    viewA, viewB = views_on_device(raw, batched, torch.device("cpu"))
    assert viewA.shape == viewB.shape == (4, 3, 16, 16) and not torch.equal(viewA, viewB)
    assert (batched.jitterStrength, batched.minScale) == (cfg.data.jitterStrength, cfg.data.minScale)
