"""Shared pieces of the evaluation CLIs: load a frozen encoder, extract features of a split."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from core.data.data_augmentation import EvalTransform
from core.data.datasets import build_dataset
from core.eval.features import extract_features
from core.nn.networks import SimCLR
from core.nn.utils.runtime import seed_everything


def build_encoder(cfg, ckpt: Optional[str], randomInit: bool) -> nn.Module:
    """The encoder of ``cfg.model``: from a training checkpoint, an ``encoder.pt``, or randomly initialized.

    The returned encoder is frozen: eval mode and ``requires_grad=False`` on every parameter.

    Raises:
        ValueError: neither ``ckpt`` nor ``randomInit``, or the weights do not fit the config.
    """
    if not ckpt and not randomInit:
        raise ValueError("give --ckpt PATH (a checkpoint_epochNNNN.pt or an encoder.pt) or --random-init")
    seed_everything(cfg.general.seed)
    m = cfg.model
    model = SimCLR(m.inChNo, m.latentChNo, m.outChNo, **dict(m.kwargs)).build().init_weights()
    encoder = model.encoder
    if not randomInit:
        path = Path(ckpt)
        if not path.is_file():
            raise ValueError(f"--ckpt {ckpt!r} does not exist")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise ValueError(f"--ckpt {ckpt!r} is not a readable checkpoint ({type(err).__name__})") from None
        try:
            if isinstance(state, dict) and "model" in state and "epoch" in state:
                model.load_state_dict(state["model"])  # a training checkpoint
            else:
                encoder.load_state_dict(state)          # an encoder.pt
        except RuntimeError as err:
            raise ValueError(f"--ckpt {ckpt!r} does not match the model in the config: "
                             f"{str(err).splitlines()[0]}") from None
    encoder.eval()
    for param in encoder.parameters():
        param.requires_grad_(False)
    return encoder


def split_features(cfg, encoder: nn.Module, split: str, device: torch.device) -> Tuple[Tensor, Tensor]:
    """``(features [N, D], labels [N])`` of ``split`` ('memory' or 'test') with the eval transform."""
    data = cfg.data
    dataset = build_dataset(data.dataset, split, root=data.rootPath, transform=EvalTransform(data.imgSize),
                            download=data.download, valFraction=data.valFraction, seed=0)
    loader = DataLoader(dataset, batch_size=cfg.train.valBatch, shuffle=False, num_workers=data.numWorkers)
    feats, labels = extract_features(encoder, loader, device)
    if len(labels) == 0 or bool((labels < 0).any()):
        raise ValueError(f"{data.dataset} split {split!r} has no labels; evaluation needs a labeled dataset")
    return feats, labels


def run_folder(cfg) -> Path:
    """The run's log folder (where evaluation results are written)."""
    return Path(cfg.general.logsDir) / cfg.general.name


def frozen_encoder_from_args(args) -> Tuple[object, torch.device, nn.Module]:
    """``(cfg, device, frozen encoder)`` from an evaluation CLI's ``--load/--opts/--ckpt/--random-init``."""
    from core.nn.utils.runtime import resolve_device
    from train.config import load_config

    cfg = load_config(args.load, args.opts)
    device = resolve_device(cfg.general.device)
    return cfg, device, build_encoder(cfg, args.ckpt, args.random_init).to(device)
