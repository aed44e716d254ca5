"""The torchvision export: same features as our encoder, for both stems; a clear refusal otherwise."""
import json

import pytest
import torch
import torchvision

from core.errors import CheckpointError
from core.nn.networks import ResNet
from core.nn.networks.export import export_encoder, load_encoder
from core.nn.networks.torchvision_export import (TORCHVISION_WEIGHTS, NotTorchvisionError, to_torchvision_state,
                                                 torchvision_layout, torchvision_resnet)

STEMS = {"cifar": dict(firstKernelSize=3, strides=[1, 1, 1, 2, 2, 2]),
         "imagenet": dict(firstKernelSize=7, strides=[2, 2, 1, 2, 2, 2], downType="maxpool")}


def trained_looking(encoder):
    """Random BatchNorm statistics and affine values, so a misplaced buffer shows in the features."""
    gen = torch.Generator().manual_seed(0)
    for module in encoder.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=gen) * 0.1)
            module.running_var.copy_(torch.rand(module.num_features, generator=gen) + 0.5)
            module.weight.data.copy_(torch.rand(module.num_features, generator=gen) + 0.5)
            module.bias.data.copy_(torch.randn(module.num_features, generator=gen) * 0.1)
    return encoder.eval()


@pytest.mark.parametrize("stem, arch", [("cifar", "18"), ("imagenet", "18"), ("cifar", "34")])
def test_torchvision_model_gives_the_same_features(tmp_path, stem, arch):
    torch.manual_seed(0)
    encoder = trained_looking(ResNet(3, 512, archType=arch, baseChNo=64, **STEMS[stem]).build())
    assert export_encoder(encoder, tmp_path) is None
    model = torchvision_resnet(tmp_path)
    assert type(model) is torchvision.models.ResNet and not model.training
    if stem == "cifar":
        assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
        assert isinstance(model.maxpool, torch.nn.Identity)
    else:
        assert model.conv1.kernel_size == (7, 7) and isinstance(model.maxpool, torch.nn.MaxPool2d)
    images = torch.randn(2, 3, 40, 40)
    with torch.no_grad():
        ours, theirs = encoder(images), model(images)
    assert theirs.shape == (2, 512)
    torch.testing.assert_close(theirs, ours, rtol=1e-4, atol=1e-4)
    if stem == "imagenet":  # a plain torchvision model loads the file too (the README's downstream recipe)
        plain = getattr(torchvision.models, f"resnet{arch}")(weights=None)
        missing, unexpected = plain.load_state_dict(torch.load(tmp_path / TORCHVISION_WEIGHTS), strict=False)
        assert sorted(missing) == ["fc.bias", "fc.weight"] and not unexpected


def test_state_dict_names_are_torchvision_names():
    encoder = ResNet(3, 512, baseChNo=64, **STEMS["imagenet"]).build()
    state = to_torchvision_state(encoder.state_dict())
    reference = torchvision.models.resnet18(weights=None).state_dict()
    reference = {k: v for k, v in reference.items() if not k.startswith("fc.")}
    assert sorted(state) == sorted(reference)
    assert all(state[k].shape == reference[k].shape for k in state)


@pytest.mark.parametrize("change, says", [
    (dict(baseChNo=16), "baseChNo=16"), (dict(norm="GroupNorm"), "norm='GroupNorm'"),
    (dict(activ="GELU"), "activ='GELU'"), (dict(downType="avgpool"), "stem"),
    (dict(firstKernelSize=5), "stem"),
])
def test_other_architectures_are_refused_with_the_reason(tmp_path, change, says):
    args = dict(baseChNo=64, **STEMS["imagenet"])
    args.update(change)
    encoder = ResNet(3, 512, **args).build()
    spec = {"inChNo": 3, "outChNo": 512, **encoder.hparams()}
    with pytest.raises(NotTorchvisionError, match=says.replace("(", r"\(")):
        torchvision_layout(spec)
    (tmp_path / TORCHVISION_WEIGHTS).write_bytes(b"stale")        # an earlier architecture's export
    why = export_encoder(encoder, tmp_path)
    assert says.split("=")[0] in why and not (tmp_path / TORCHVISION_WEIGHTS).exists()
    assert load_encoder(tmp_path / "encoder.pt") is not None      # our own loader still reads it
    with pytest.raises(CheckpointError, match="not torchvision's architecture"):
        torchvision_resnet(tmp_path)


def test_resnet34_layout_names_its_arch(tmp_path):
    spec = {"inChNo": 3, "outChNo": 512, **ResNet(3, 512, archType="34", baseChNo=64, **STEMS["cifar"]).hparams()}
    assert torchvision_layout(json.loads(json.dumps(spec))) == ("resnet34", "cifar")


@pytest.mark.parametrize("damage, says", [
    (lambda folder: (folder / TORCHVISION_WEIGHTS).write_bytes(b""), "not a readable checkpoint"),
    (lambda folder: (folder / TORCHVISION_WEIGHTS).write_bytes(b"garbage" * 10), "not a readable checkpoint"),
    (lambda folder: (folder / "encoder.json").write_text("[1, 2]"), "not an encoder description"),
    (lambda folder: (folder / "encoder.json").write_text('{"archType": "18"'), "not an encoder description"),
])
def test_foreign_or_damaged_exports_are_checkpoint_errors(tmp_path, damage, says):
    encoder = ResNet(3, 512, baseChNo=64, **STEMS["cifar"]).build()
    assert export_encoder(encoder, tmp_path) is None
    damage(tmp_path)
    with pytest.raises(CheckpointError, match=says):
        torchvision_resnet(tmp_path)
