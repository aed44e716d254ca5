"""The evaluation tools' set-up (``linear_eval.py``, ``finetune.py``, ``tsne.py``): their config, encoder and data.

- ``load_eval_config``: the config stored with ``--ckpt``, then ``-l``, then ``--opts``; a checkpoint never
  chooses where results are written, and reading paths are kept only from this run's own checkpoint
  (``without_foreign_paths``).
- ``build_encoder`` / ``encoder_from_args``: the encoder of ``--ckpt`` (a training checkpoint or an
  exported encoder) or ``--random-init``, on the configured device and threads.
- ``split_features`` / ``split_labels``: a split's features and labels, refusing non-finite features and
  unlabeled data.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.utils.data import Subset

from core.data.data_augmentation import EvalTransform
from core.data.datasets import DatasetError, dataset_labels
from core.errors import CheckpointError, UserInputError
from core.nn.networks.export import encoder_from_checkpoint
from core.nn.utils.checkpoint import Checkpoint, read_checkpoint
from core.nn.utils.device import enter_device
from core.nn.utils.randomness import seed_everything
from core.nn.utils.threads import apply_threads
from train.builders import build_model, config_value, dataset_from_config
from train.evaluation import dataset_features


def load_eval_config(args, checkpoint: Optional[Checkpoint] = None):
    """The config of an evaluation: the one stored with ``--ckpt`` (``checkpoint``, read once by the
    caller), then ``-l``, then ``--opts``. The stored config passes the trainer's checks.

    Raises:
        ConfigError / CheckpointError: nothing to take the config from, or a bad file.
    """
    from train.config import ConfigError, load_config

    stored = checkpoint.config if checkpoint is not None else None
    if stored is None and not args.load:
        why = f"{args.ckpt} holds no config" if args.ckpt else "--random-init needs the experiment's YAML"
        raise ConfigError(f"give -l CONFIG: {why}")
    base = without_foreign_paths(stored, args.ckpt) if stored else None
    if base is not None:
        try:
            load_config(base=base)              # the stored config alone passes the trainer's checks
        except ConfigError as err:
            raise CheckpointError(f"--ckpt {args.ckpt}: its stored config is refused: {err}") from err
    return load_config(args.load, args.opts, base=base)


WRITE_PATHS = {"general": ("logsDir", "saveDir")}
READ_PATHS = {"data": ("rootPath", "testPath")}


def without_foreign_paths(stored: dict, ckpt: str) -> dict:
    """The stored config, less the folders a checkpoint must not choose.

    Where the evaluation tools write is never decided by the file they read: the stored
    ``general.logsDir``/``saveDir`` always fall back to the defaults, and ``-l`` / ``--opts`` set
    them. What they read (``data.rootPath``/``testPath``) is kept only for a checkpoint in
    ``<saveDir>/<name>/`` of its own config (written by that run here); a checkpoint from elsewhere
    (downloaded, copied, crafted) falls back to the defaults there too.
    """
    general = stored.get("general") if isinstance(stored, dict) else None
    if not isinstance(general, dict):
        return stored
    folder = Path(ckpt) if Path(ckpt).is_dir() else Path(ckpt).parent
    own = Path(str(general.get("saveDir", ""))) / str(general.get("name", ""))
    try:
        isOwn = own.resolve() == folder.resolve()
    except (OSError, ValueError):
        isOwn = False
    dropped = {**WRITE_PATHS, **({} if isOwn else READ_PATHS)}
    cleaned = dict(stored)
    for section, keys in dropped.items():
        if isinstance(stored.get(section), dict):
            cleaned[section] = {k: v for k, v in stored[section].items() if k not in keys}
    return cleaned


def build_encoder(cfg, ckpt: Optional[str], randomInit: bool, checkpoint: Optional[Checkpoint] = None,
                  frozen: bool = True) -> nn.Module:
    """The encoder of ``ckpt`` (or of ``checkpoint``, already read), or ``cfg.model``'s at random init.

    The architecture comes from the checkpoint itself (``modelArgs`` or ``encoder.json``), so it
    always fits its weights (``core.nn.networks.export.encoder_from_checkpoint``).

    Args:
        frozen: eval mode and no gradients (the linear probe, t-SNE); False for fine-tuning.

    Raises:
        CheckpointError: neither ``ckpt`` nor ``randomInit``, or a file that cannot be used.
    """
    if not ckpt and not randomInit:
        raise CheckpointError("give --ckpt PATH (a checkpoint_epochNNNN.pt, an encoder.pt or its folder) "
                              "or --random-init")
    seed_everything(cfg.general.seed)
    if randomInit:
        encoder = build_model(cfg.model).encoder
    else:
        encoder = encoder_from_checkpoint(checkpoint if checkpoint is not None else read_checkpoint(ckpt))
    if frozen:
        encoder.eval()
    for param in encoder.parameters():
        param.requires_grad_(not frozen)
    return encoder


def split_features(cfg, encoder: nn.Module, split: str, device: torch.device, indices=None,
                   progress: bool = False) -> Tuple[Tensor, Tensor]:
    """``(features [N, D], labels [N])`` of ``split`` ('memory' or 'test') with the eval transform.

    Args:
        indices: only these images of the split (e.g. a capped subset), in this order.
        progress: a tqdm bar over the batches.
    """
    data = cfg.data
    dataset = dataset_from_config(data, split, EvalTransform(data.imgSize))
    if indices is not None:
        dataset = Subset(dataset, [int(i) for i in indices])
    feats, labels = dataset_features(cfg, encoder, dataset, device,
                                     progress=f"features of {split}" if progress else None)
    if not bool(torch.isfinite(feats).all()):
        raise UserInputError(f"the encoder's features of {data.dataset} split {split!r} hold NaN or infinite "
                             "values; its weights cannot be evaluated (did its training diverge?)")
    if len(labels) == 0 or bool((labels < 0).any()):
        raise DatasetError(f"{data.dataset} split {split!r} has no labels; evaluation needs a labeled dataset")
    return feats, labels


def split_labels(cfg, split: str) -> Tensor:
    """``[N]`` labels of ``split`` without decoding an image (``DatasetError`` when it has none)."""
    labels = dataset_labels(dataset_from_config(cfg.data, split))
    if labels is None:
        raise DatasetError(f"{cfg.data.dataset} split {split!r} has no labels; evaluation needs a labeled dataset")
    return labels


class EvalSetup(NamedTuple):
    """What an evaluation CLI starts from: the config, the device, the encoder (on it), the CPU threads and
    the ``ThreadGovernor`` that follows the free cores (None when the threads are fixed)."""

    cfg: Any
    device: torch.device
    encoder: nn.Module
    threads: int
    governor: Any


def encoder_from_args(args, frozen: bool = True) -> EvalSetup:
    """The set-up of every evaluation CLI from ``--ckpt / -l / --opts / --random-init``; ``--ckpt`` is read once.

    Also sets PyTorch's CPU threads as the trainer does (``general.threads``).
    """
    checkpoint = read_checkpoint(args.ckpt) if args.ckpt else None
    cfg = load_eval_config(args, checkpoint)
    threads, _, governor = apply_threads(cfg.general.threads, cfg.data.numWorkers, follow=True)
    device = config_value("general.device", lambda: enter_device(cfg.general.device))
    encoder = build_encoder(cfg, args.ckpt, args.random_init, checkpoint, frozen=frozen)
    broken = [name for name, tensor in encoder.state_dict().items()
              if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())]
    if broken:
        raise CheckpointError(f"--ckpt {args.ckpt}: the encoder's weights hold NaN or infinite values ({broken[0]}"
                              f"{f' and {len(broken) - 1} more' if len(broken) > 1 else ''}); it cannot be "
                              "evaluated (did its training diverge?)")
    return EvalSetup(cfg, device, encoder.to(device), threads, governor)
