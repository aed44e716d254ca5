"""Tasks 2-3: the SimCLR model's encoder and projection head, graded on the networks they build.

A build written from the original tutorial's hint passes: the hyperparameters
this project adds (``baseChNo``, ``firstKernelSize``, ``downType``, ``projNorm``)
reach ``ResNet``/``MLP`` outside the student's lines, and a build that drops them
is refused by ``SimCLR.check_added_arguments`` (tested below without student code).
"""
import pytest
import torch
from torch import nn

from core.nn.blocks import BasicBlock
from core.nn.networks import MLP, ResNet, SimCLR
from core.course.task_regions import run_region

SMALL = dict(baseChNo=8, mlpLayers=[32])


def stand_in_encoder(inChNo, latentChNo):
    """A tiny CNN in place of the student's encoder, so Task 3 is graded whatever Task 2's state."""
    return nn.Sequential(nn.Conv2d(inChNo, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, latentChNo))


def built(inChNo=3, latentChNo=48, outChNo=16, encoderOnly=False, **kwargs):
    """A SimCLR model whose Task 2 lines (``encoderOnly``) or Task 3 lines alone have run.

    Each task's region runs on its own (``core.course.task_regions.run_region``), so a stub, an error or a
    syntax error in the other task never changes this task's result. Task 3's region finds an encoder (as a
    finished Task 2 leaves one); its tests then use a small stand-in encoder.
    """
    model = SimCLR(inChNo, latentChNo, outChNo, **{**SMALL, **kwargs})
    task = 2 if encoderOnly else 3
    if not encoderOnly:     # what a finished Task 2 gives Task 3: an encoder of h [B, latentChNo]
        model.encoder = ResNet(inChNo, latentChNo, baseChNo=model.baseChNo).build()
    try:
        run_region(model, task, context=model.added_defaults())
    except (TypeError, ValueError) as err:
        if str(err).startswith("Task"):
            raise
        raise AssertionError(
            f"Task {task}: building SimCLR({kwargs}) failed with {type(err).__name__}: {err}: is every argument "
            "taken from the configuration (norm=self.norm with normKwargs=self.normKwargs, activ=self.activ "
            "with activKwargs=self.activKwargs, ...)?") from err
    if encoderOnly:
        assert isinstance(getattr(model, "encoder", None), ResNet), \
            "Task 2: self.encoder must be ResNet(...).build() (core/nn/networks/resnet.py)"
    else:
        assert isinstance(getattr(model, "project", None), MLP), \
            "Task 3: self.project must be MLP(...).build() (core/nn/networks/mlp.py)"
        model.encoder = stand_in_encoder(inChNo, latentChNo)
    model.check_added_arguments()
    return model


def modules(net, kind):
    return [m for m in net.modules() if isinstance(m, kind)]


# ---------------------------------------------------------------- Task 2: the encoder
@pytest.mark.task2
@pytest.mark.parametrize("size, extra", [
    (32, {}),
    (64, dict(firstKernelSize=7, encoderStrides=[2, 2, 1, 2, 2, 2])),
    (32, dict(archType="34", norm="GroupNorm", normKwargs={"num_groups": 4})),
])
def test_encoder_maps_images_to_h(size, extra):
    encoder = built(encoderOnly=True, **extra).encoder
    h = encoder(torch.randn(3, 3, size, size))
    cause = ("h is still a feature map: lastPool=True pools it to a vector" if h.ndim == 4 else
             "outChNo must be self.latentChNo, the size of h")
    assert h.shape == (3, 48), f"Task 2: h should be [3, 48] (B, latentChNo), got {tuple(h.shape)}: {cause}"


@pytest.mark.task2
def test_encoder_takes_the_configured_input_channels():
    encoder = built(inChNo=1, encoderOnly=True).encoder
    first = modules(encoder, nn.Conv2d)[0]
    assert first.in_channels == 1, (
        f"Task 2: SimCLR(inChNo=1) built an encoder for {first.in_channels}-channel images: "
        "inChNo=self.inChNo")
    assert encoder(torch.randn(2, 1, 32, 32)).shape == (2, 48)


def describe_activations(encoder):
    """The encoder's activations in words: their kinds and, for LeakyReLU, the slopes."""
    slopes = sorted({m.negative_slope for m in modules(encoder, nn.LeakyReLU)})
    relus = len(modules(encoder, nn.ReLU))
    if slopes and not relus:
        return f"LeakyReLU layers of negative slope {', '.join(map(str, slopes))} only"
    return f"{relus} ReLU layers" + (f" and LeakyReLU layers of slope {', '.join(map(str, slopes))}" if slopes else "")


def count_blocks(encoder):
    return len(modules(encoder, BasicBlock))


ENCODER_CASES = [
    # (SimCLR kwargs, what the encoder must show, how to read it off the encoder, advice)
    (dict(archType="34"), 16, count_blocks, "archType=self.archType (ResNet-34 has 16 residual blocks)"),
    (dict(baseChNo=12), 12, lambda e: modules(e, nn.Conv2d)[0].out_channels,
     "the width comes from baseChNo (self.baseChNo)"),
    (dict(firstKernelSize=7), (7, 7), lambda e: modules(e, nn.Conv2d)[0].kernel_size,
     "the first kernel comes from firstKernelSize (self.firstKernelSize)"),
    (dict(encoderStrides=[2, 1, 1, 2, 2, 2]), [2, 1, 1, 2, 2, 2], lambda e: list(e.strides),
     "strides=self.encoderStrides"),
    (dict(encoderStrides=[2, 1, 1, 2, 2, 2]), (2, 2), lambda e: modules(e, nn.Conv2d)[0].stride,
     "strides=self.encoderStrides (the first one is the stem convolution's)"),
    (dict(norm="GroupNorm", normKwargs={"num_groups": 4}), {4}, lambda e: {m.num_groups for m in
                                                                           modules(e, nn.GroupNorm)},
     "norm=self.norm and normKwargs=self.normKwargs"),
    (dict(normKwargs={"momentum": 0.3}), {0.3}, lambda e: {m.momentum for m in modules(e, nn.BatchNorm2d)},
     "normKwargs=self.normKwargs"),
    (dict(activ="LeakyReLU", activKwargs={"negative_slope": 0.3}), "LeakyReLU layers of negative slope 0.3 only",
     lambda e: describe_activations(e), "activ=self.activ and activKwargs=self.activKwargs"),
    (dict(activ="SiLU", activKwargs={}), True, lambda e: bool(modules(e, nn.SiLU)), "activ=self.activ"),
    (dict(), True, lambda e: e.lastPool is True, "lastPool=True"),
]


@pytest.mark.task2
@pytest.mark.parametrize("kwargs, want, read, advice", ENCODER_CASES,
                         ids=[f"{next(iter(c[0]), 'lastPool')}-{i}" for i, c in enumerate(ENCODER_CASES)])
def test_encoder_follows_the_hyperparameters(kwargs, want, read, advice):
    got = read(built(encoderOnly=True, **kwargs).encoder)
    shown = got if isinstance(got, str) else repr(got)
    assert got == want, f"Task 2: SimCLR({kwargs}) built an encoder with {shown} where {want!r} was " \
                        f"expected: {advice}"


# ---------------------------------------------------------------- Task 3: the projection head
def linears(model):
    return modules(model.project, nn.Linear)


@pytest.mark.task3
def test_projection_maps_h_to_z():
    model = built()
    z = model.project(torch.randn(5, 48))
    assert z.shape == (5, 16), (
        f"Task 3: z should be [5, 16] (B, outChNo), got {tuple(z.shape)}: inChNo=self.latentChNo, "
        "outChNo=self.outChNo")
    sizes = [(m.in_features, m.out_features) for m in linears(model)]
    assert sizes == [(48, 32), (32, 16)], (
        f"Task 3: mlpLayers=[32] should give Linear layers [(48, 32), (32, 16)], got {sizes}: "
        "layerCfg=self.mlpLayers (one hidden layer of 32)")


@pytest.mark.task3
def test_no_activation_on_z():
    torch.manual_seed(0)
    model = built(activ="LeakyReLU", activKwargs={"negative_slope": 0.01})
    z = model.project(10 * torch.randn(64, 48))
    assert model.project.lastActiv is None and z.min() < -1 and z.max() > 1, (
        f"Task 3: z ranges over [{z.min():.2f}, {z.max():.2f}] (lastActiv={model.project.lastActiv!r}): the "
        "last layer must stay linear (lastActiv=None); a ReLU, Tanh or Sigmoid there squashes z")


@pytest.mark.task3
def test_projection_follows_the_layer_sizes_and_bias():
    model = built(mlpLayers=[40, 24], useBias=False)
    sizes = [(m.in_features, m.out_features) for m in linears(model)]
    assert sizes == [(48, 40), (40, 24), (24, 16)], (
        f"Task 3: mlpLayers=[40, 24] should give Linear layers [(48, 40), (40, 24), (24, 16)], got {sizes}: "
        "layerCfg=self.mlpLayers")
    assert all(m.bias is None for m in linears(model)), "Task 3: useBias=False still built biases: useBias=self.useBias"
    assert all(m.bias is not None for m in linears(built(useBias=True))), \
        "Task 3: useBias=True built Linear layers without bias: useBias=self.useBias"


@pytest.mark.task3
@pytest.mark.parametrize("activ, kwargs, kind", [("LeakyReLU", {"negative_slope": 0.3}, nn.LeakyReLU),
                                                 ("SiLU", {}, nn.SiLU)])
def test_hidden_layers_use_the_configured_activation(activ, kwargs, kind):
    model = built(activ=activ, activKwargs=kwargs, mlpLayers=[40, 24])
    hidden = modules(model.project, kind)
    assert len(hidden) == 2, (
        f"Task 3: with activ={activ!r} and two hidden layers the head should hold 2 {kind.__name__} layers, "
        f"found {len(hidden)}: activ=self.activ between the layers (not hard-coded, not after the last)")
    if kwargs:
        assert all(m.negative_slope == 0.3 for m in hidden), \
            "Task 3: the head's activation ignores activKwargs: activKwargs=self.activKwargs"


@pytest.mark.task3
def test_projection_follows_the_dropout():
    model = built(mlpLayers=[40, 24], dropRate=0.2, dropLayers=1)
    drops = modules(model.project, nn.Dropout)
    assert [d.p for d in drops] == [0.2], (
        f"Task 3: dropRate=0.2 on the last dropLayers=1 hidden layer should give one Dropout(0.2), got "
        f"{[d.p for d in drops]}: dropRate=self.dropRate, dropLayers=self.dropLayers")
    assert not modules(built(dropRate=None).project, nn.Dropout), "Task 3: dropRate=None must mean no dropout"


@pytest.mark.task3
def test_projection_has_no_normalization_by_default():
    norms = [type(m).__name__ for m in modules(built().project, (nn.BatchNorm1d, nn.LayerNorm, nn.GroupNorm))]
    assert not norms, f"Task 3: the paper's head has no normalization, found {norms}: norm=None"


@pytest.mark.task3
def test_forward_returns_h_and_z():
    model = built()
    h, z = model(torch.randn(4, 3, 32, 32))
    assert h.shape == (4, 48) and z.shape == (4, 16)
    assert torch.allclose(z, model.project(h))


@pytest.mark.task3
def test_init_weights_and_parameter_groups():
    model = built().init_weights()
    linear = modules(model.project, nn.Linear)
    assert all(torch.all(m.bias == 0) for m in linear if m.bias is not None)
    groups = model.get_params(0.1)
    decay, noDecay = groups
    assert all(p.ndim > 1 for p in decay["params"])
    assert all(p.ndim == 1 for p in noDecay["params"]) and noDecay["weight_decay"] == 0.0
    assert len(decay["params"]) + len(noDecay["params"]) == len(list(model.parameters()))
    assert {g["lr"] for g in groups} == {0.1}
    torch.optim.SGD(groups, lr=0.1, weight_decay=1e-4)  # accepted by an optimizer


@pytest.mark.task2
def test_built_from_a_config_like_the_tutorial():
    from train.config import load_config

    cfg = load_config("assets/experiments/quickstart.yaml")
    models = [SimCLR(cfg), SimCLR(cfg.model),
              SimCLR(cfg.model.inChNo, cfg.model.latentChNo, cfg.model.outChNo, **cfg.model.kwargs)]
    for model in models:
        run_region(model, 2, context=model.added_defaults())
    counts = {sum(p.numel() for p in m.encoder.parameters()) for m in models}
    assert len(counts) == 1 and models[0].encoder.baseChNo == cfg.model.kwargs.baseChNo, (
        f"Task 2: SimCLR(cfg), SimCLR(cfg.model) and the keyword form built encoders of {sorted(counts)} "
        "parameters: take every argument from self (the constructor already read the config)")


@pytest.mark.pipeline
def test_build_runs_both_regions_and_initializes_the_encoder():
    model = SimCLR(3, 48, 16, **SMALL).build()
    assert isinstance(model.encoder, ResNet) and isinstance(model.project, MLP)
    bns = [m for m in model.init_weights().modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(torch.all(m.weight == 1) and torch.all(m.bias == 0) for m in bns)


# ---------------------------------------------------------------- given code (no student lines)
def test_config_and_keyword_forms_agree():
    from train.config import load_config

    cfg = load_config("assets/experiments/quickstart.yaml", ["model.kwargs.dropRate", "None"])
    model = SimCLR(cfg)
    assert (model.inChNo, model.latentChNo, model.outChNo) == (3, cfg.model.latentChNo, cfg.model.outChNo)
    assert model.hparams() == SimCLR(3, cfg.model.latentChNo, cfg.model.outChNo, **cfg.model.kwargs).hparams()
    assert model.mlpLayer == model.mlpLayers == list(cfg.model.kwargs.mlpLayers)
    with pytest.raises(ValueError, match="no model.latentChNo"):
        SimCLR({"inChNo": 3, "outChNo": 8})


def test_added_arguments_reach_the_builders_as_defaults():
    with ResNet.using_defaults(baseChNo=8, firstKernelSize=5), MLP.using_defaults(norm="BatchNorm1d"):
        encoder = ResNet(3, 16)                           # as the tutorial's hint calls it: no baseChNo
        head = MLP(16, 8, norm=None)                      # an explicit keyword still wins
    assert (encoder.baseChNo, encoder.firstKernelSize, head.norm) == (8, 5, None)
    assert ResNet(3, 16).baseChNo == 64                   # outside the block: the class defaults again
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        with ResNet.using_defaults(width=3):
            pass


@pytest.mark.parametrize("kwargs, encoderKw, headKw, match", [
    (dict(encoderStrides=[1, 2, 1, 2, 2, 2], downType="avgpool"), dict(downType="maxpool"), {},
     r"Task 2: SimCLR was configured with downType='avgpool' but the model was built with 'maxpool'"),
    (dict(projNorm="BatchNorm1d"), {}, dict(norm=None), r"Task 3: .*projNorm='BatchNorm1d'.*built with None"),
    (dict(baseChNo=8), dict(baseChNo=64), {}, r"Task 2: .*baseChNo=8.*built with 64"),
])
def test_a_build_that_drops_an_added_argument_is_refused(kwargs, encoderKw, headKw, match):
    model = SimCLR(3, 16, 8, **kwargs)
    encoderArgs = dict(baseChNo=model.baseChNo, strides=model.encoderStrides, downType=model.downType)
    model.encoder = ResNet(3, 16, **{**encoderArgs, **encoderKw}).build()
    model.project = MLP(16, 8, layerCfg=[16], **{"norm": model.projNorm, **headKw}).build()
    with pytest.raises(ValueError, match=match):
        model.check_added_arguments()


def test_hparams_round_trip_and_unknown_keyword():
    model = SimCLR(3, 48, 16, **SMALL)
    params = model.hparams()
    assert params["baseChNo"] == 8 and params["mlpLayers"] == [32] and params["archType"] == "18"
    assert SimCLR(3, 48, 16, **params).hparams() == params
    with pytest.raises(ValueError, match=r"unknown hyperparameter\(s\) \['mlpLayer'\]"):
        SimCLR(3, 48, 16, mlpLayer=[32])
