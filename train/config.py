"""Default configuration (yacs). Every experiment YAML is merged over these values.

Sections keep the original tutorial's names: general, train, data, model,
loss, optimizer, log. A key that is not defined here is an error (a typo must
not be ignored), except under ``model.kwargs``, which is passed to ``SimCLR``
and checked there against ``SimCLR.DEFAULTS``.

Load and merge with ``load_config(path, opts)``; errors are ``ConfigError``
with a one-line message naming the key.
"""
from __future__ import annotations

import ast
import copy
import math
from pathlib import Path
from typing import Any, List, Optional, Sequence

import yaml
from yacs.config import CfgNode as CN

from core.errors import UserInputError

_C = CN()

# ---------------------------------------------------------------- general
_C.general = CN()
_C.general.name = "simclr"            # run name: logs in <logsDir>/<name>, checkpoints in <saveDir>/<name>
_C.general.logsDir = "assets/logs"    # TensorBoard root (tensorboard --logdir assets/logs)
_C.general.saveDir = "assets/checkpoints"  # checkpoint root
_C.general.device = "cuda"            # 'cuda', 'cuda:N' or 'cpu'; falls back to cpu (with a warning) if absent
_C.general.seed = 0                   # seeds python, numpy and torch at start; same seed, same run on CPU
_C.general.amp = True                 # CUDA only: autocast (bf16 where supported, else fp16 + GradScaler)
_C.general.channelsLast = True        # CUDA only: channels_last memory format for the convolutions
_C.general.compile = False            # torch.compile the model (PyTorch 2; slow first steps)
_C.general.threads = 0                # CPU threads of PyTorch per process; 0 = auto (OMP_NUM_THREADS, else the
#                                       cores per process less the DataLoader workers' share, never more than the
#                                       cores other processes leave free, re-decided every 2 s); N fixes it

# ---------------------------------------------------------------- train
_C.train = CN()
_C.train.epochs = 100                 # passes over the training split
_C.train.trainBatch = 512             # images per step PER PROCESS (torchrun: global batch = this x processes)
_C.train.valBatch = 512               # images per step when extracting features for evaluation

# ---------------------------------------------------------------- data
_C.data = CN()
_C.data.dataset = "CIFAR10"           # CIFAR10 | CIFAR100 | STL10 | ImageFolder | Digits | Synthetic
_C.data.rootPath = "assets/datasets"  # download folder; for ImageFolder: the folder of your images
_C.data.download = True               # let torchvision download CIFAR/STL archives when missing
_C.data.imgSize = 32                  # side of the square views fed to the network, or [H, W]
_C.data.augBackend = "auto"           # auto (albumentations if available: faster) | torchvision | albumentations
_C.data.jitterStrength = 0.5          # color distortion strength s (paper: 0.5 for CIFAR-10, 1.0 ImageNet)
_C.data.minScale = 0.08               # smallest random-crop area fraction
_C.data.blur = "auto"                 # 'auto' (on from 64 px), 'on' or 'off'
_C.data.valFraction = 0.2             # ImageFolder/Digits: fraction held out for evaluation (without testPath)
_C.data.testPath = ""                 # ImageFolder: a separate test folder (same class subfolders); then all of
#                                       rootPath trains and is the kNN bank, and evaluation uses this folder
_C.data.numWorkers = 4                # DataLoader worker processes (0 = load in the main process)
_C.data.maxPixels = 40_000_000        # ImageFolder: images of more pixels are skipped with a warning naming them
_C.data.syntheticImages = 50_000     # Synthetic: random 32x32 training images (speed checks; nothing to learn)
_C.data.keepOnDevice = "auto"        # augDevice cuda: keep the training images on the device as uint8 (no per-image
#                                       stage at all): auto = when they take at most a quarter of its free memory
_C.data.augDevice = "cpu"             # cpu: augment each image in the workers | cuda: whole batches on the GPU

# ---------------------------------------------------------------- model
_C.model = CN()
_C.model.inChNo = 3                   # image channels
_C.model.latentChNo = 512             # size of h (the representation you keep)
_C.model.outChNo = 128                # size of z (where the loss is applied; paper: 128)
_C.model.syncBN = True                # torchrun only: BatchNorm statistics over all processes (paper: "global BN")
_C.model.kwargs = CN(new_allowed=True)  # SimCLR hyperparameters (see SimCLR.DEFAULTS): archType, baseChNo,
#                                       encoderStrides, firstKernelSize, downType, norm, normKwargs, activ,
#                                       activKwargs, mlpLayers, useBias, projNorm, dropRate, dropLayers

# ---------------------------------------------------------------- loss
_C.loss = CN()
_C.loss.temperature = 0.5             # NT-Xent temperature (paper, Appendix B.9: 0.5 for CIFAR-10)
_C.loss.gatherDistributed = True      # torchrun only: negatives from all processes (gather with gradients)

# ---------------------------------------------------------------- optimizer
_C.optimizer = CN()
_C.optimizer.name = "Adam"            # Adam | AdamW | SGD | LARS
_C.optimizer.lr = 1e-3                # base learning rate
_C.optimizer.weightDecay = 1e-6       # applied to weights only, never to norm/bias parameters
_C.optimizer.momentum = 0.9           # SGD and LARS
_C.optimizer.scheduler = "WarmupCosine"  # WarmupCosine (per step) | None | a class of schedPack (per epoch)
_C.optimizer.schedPack = "torch.optim.lr_scheduler"  # the only module schedulers may come from
_C.optimizer.schedKwargs = CN(new_allowed=True)  # keyword arguments of a schedPack scheduler
_C.optimizer.warmupEpochs = 10        # WarmupCosine: linear warmup length (LARS needs it, Appendix B.1)

# ---------------------------------------------------------------- log
_C.log = CN()
_C.log.evalEpoch = 5                  # kNN accuracy, embedding projector and t-SNE every N epochs (and at the end)
_C.log.evalAtStart = True             # also evaluate the untrained network before the first step (step 0)
_C.log.saveEpoch = 10                 # checkpoint every N epochs (and at the end)
_C.log.knnK = 200                     # kNN monitor: neighbours (clipped to the memory-bank size)
_C.log.knnT = 0.1                     # kNN monitor: vote temperature
_C.log.embeddingSamples = 500         # validation images sent to the TensorBoard projector
_C.log.tsneSamples = 1000             # validation images in the t-SNE figure
_C.log.imagePairs = 8                 # augmented view pairs shown at the start of training


MAX_NAME_BYTES = 200  # file systems allow 255 per name
PER_CORE = 4          # general.threads and data.numWorkers: at most this many per usable core
MIN_IMG_SIZE = 2      # albumentations' recipe fails on 1x1 views about one call in three


class ConfigError(UserInputError):
    """A config file or override is invalid; the message names the key."""


def get_cfg_defaults() -> CN:
    """A fresh, mutable copy of the defaults."""
    return _C.clone()


# Keys whose string values YAML 1.1 turns into booleans when unquoted (blur: off -> False).
ON_OFF_KEYS = ("data.blur",)
# Keys that take an int or an [H, W] pair (the one imgSize rule of core.data.data_augmentation.image_size).
SIZE_KEYS = ("data.imgSize",)


def _coerce(value: Any, default: Any, key: str) -> Any:
    """Check ``value`` against the default's type; ints are accepted for floats."""
    if key in ON_OFF_KEYS and isinstance(value, bool):
        return "on" if value else "off"
    if key in SIZE_KEYS and isinstance(value, (list, tuple)):
        return list(value)    # [H, W]: checked with the int form in check_values
    if value is None and isinstance(default, str):
        return "None"   # --opts optimizer.scheduler None (literal_eval reads None) or YAML null
    if isinstance(default, CN):
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping, got {value!r}")
        return value
    if isinstance(default, bool) or isinstance(value, bool):
        if isinstance(default, bool) and isinstance(value, bool):
            return value
    elif isinstance(default, float) and isinstance(value, int):
        return float(value)
    elif isinstance(default, (list, tuple)) and isinstance(value, (list, tuple)):
        return type(default)(value)
    elif type(value) is type(default):
        return value
    raise ConfigError(f"{key}={value!r} has type {type(value).__name__}; expected "
                      f"{type(default).__name__} (like the default {default!r})")


def _merge(cfg: CN, updates: dict, prefix: str = "") -> None:
    """Merge ``updates`` into ``cfg``, checking every key and type (``_coerce``).

    Why not yacs' own ``merge_from_other_cfg`` / ``merge_from_list`` (checked by
    ``tests/train/test_config.py::test_why_the_merge_is_not_yacs_own``): both refuse an int where
    the default is a float (``optimizer.lr: 1``), ``merge_from_list`` refuses new keys even under
    ``new_allowed`` (``--opts model.kwargs.baseChNo 4``), and neither maps YAML 1.1's ``blur: off``
    (read as False) back to ``'off'`` or ``None`` to ``'None'``; their errors are a ``KeyError`` or
    a multi-line ``ValueError``. yacs still holds the defaults, ``clone`` and ``freeze``.
    """
    for name, value in updates.items():
        key = f"{prefix}{name}"
        if name not in cfg:
            if cfg.is_new_allowed():
                cfg[name] = CN(value, new_allowed=True) if isinstance(value, dict) else value
                continue
            raise ConfigError(f"unknown config key {key!r}; known keys in this section: {sorted(cfg)}")
        default = cfg[name]
        value = _coerce(value, default, key)
        if isinstance(default, CN):
            _merge(default, value, key + ".")
        else:
            cfg[name] = value


MAX_YAML_NODES = 100_000         # values after expanding aliases: a config has hundreds
MAX_YAML_BYTES = 1_000_000


class UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, refusing a mapping that repeats a key (YAML would silently keep the last)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for keyNode, _ in node.value:
            if keyNode.tag == "tag:yaml.org,2002:merge":
                continue          # "<<: *defaults": merged by the safe loader, its keys may be overridden here
            key = self.construct_object(keyNode, deep=deep)
            line = keyNode.start_mark.line + 1
            if key in seen:
                raise ConfigError(f"{self.name}: key {key!r} appears twice in one section (lines {seen[key]} "
                                  f"and {line}); keep one")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_text_file(path: str, what: str) -> str:
    """The UTF-8 text of ``path``, or a ``ConfigError`` saying why it cannot be read (missing, a folder...)."""
    file = Path(path)
    if file.is_dir():
        raise ConfigError(f"{what} {path!r} is a directory; give a YAML file")
    if not file.is_file():
        raise ConfigError(f"{what} {path!r} does not exist")
    data = file.read_bytes()
    if len(data) > MAX_YAML_BYTES:
        raise ConfigError(f"{what} {path!r} is {len(data)} bytes; a config is at most {MAX_YAML_BYTES}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{what} {path!r} is not UTF-8 text (byte {err.start}); give a YAML file") from err


def expanded_size(node, memo=None) -> int:
    """How many values a composed YAML node becomes once every alias is copied out (computed, not expanded)."""
    if node is None:
        return 0
    memo = {} if memo is None else memo
    if id(node) not in memo:
        memo[id(node)] = 1       # a node that contains itself (recursive alias) counts once
        if isinstance(node, yaml.MappingNode):
            size = 1 + sum(expanded_size(k, memo) + expanded_size(v, memo) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            size = 1 + sum(expanded_size(item, memo) for item in node.value)
        else:
            size = 1
        memo[id(node)] = size
    return memo[id(node)]


def read_yaml(path: str) -> dict:
    """Read a YAML mapping with the safe loader; errors name the file and line.

    Refused with one line: a missing file, a folder, binary or non-UTF-8 content, a repeated key,
    a document whose aliases expand to more than ``MAX_YAML_NODES`` values (a "billion laughs" file
    of a few hundred bytes would take minutes and gigabytes once copied into the config).
    """
    text = read_text_file(path, "config file")
    try:
        expanded = expanded_size(yaml.compose(text, Loader=yaml.SafeLoader))
        if expanded > MAX_YAML_NODES:
            raise ConfigError(f"{path}: its aliases (*name) expand to {expanded:,} values; a config may hold at "
                              f"most {MAX_YAML_NODES:,}")
        loader = UniqueKeyLoader(text)
        loader.name = path
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except RecursionError as err:
        raise ConfigError(f"{path}: nested too deeply to be a config") from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{path}:{where} malformed YAML: {problem}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(data).__name__}")
    return data


def parse_opts(opts: Sequence[str]) -> dict:
    """``['train.epochs', '5', 'data.blur', 'on']`` -> nested dict, values parsed as Python literals."""
    if len(opts) % 2:
        raise ConfigError(f"--opts needs KEY VALUE pairs, got an odd number of items: {list(opts)}")
    nested: dict = {}
    for key, raw in zip(opts[::2], opts[1::2]):
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw  # a plain string such as cpu or ImageFolder
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return nested


def load_config(path: Optional[str] = None, opts: Sequence[str] = (), base: Optional[dict] = None) -> CN:
    """Defaults, then ``base`` (e.g. the config stored in a checkpoint), the YAML at ``path``, ``--opts``; frozen.

    Raises:
        ConfigError: missing/malformed file, unknown key, wrong type, bad value.
    """
    cfg = get_cfg_defaults()
    if base:
        _merge(cfg, base)
    if path:
        _merge(cfg, read_yaml(path))
    _merge(cfg, parse_opts(list(opts)))
    check_values(cfg)
    cfg.freeze()
    return cfg


def usable_cores() -> int:
    """The CPU cores this process may run on."""
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def check_values(cfg: CN) -> None:
    """Value checks that types alone cannot express (every float finite, every text printable)."""
    check_finite_and_printable(cfg)
    cores = usable_cores()
    checks: List[tuple] = [
        ("train.epochs", cfg.train.epochs >= 1, ">= 1"),
        ("train.trainBatch", cfg.train.trainBatch >= 2, ">= 2 per process (a pair needs negatives)"),
        ("train.valBatch", cfg.train.valBatch >= 1, ">= 1"),
        ("data.imgSize", size_ok(cfg.data.imgSize), f"an integer >= {MIN_IMG_SIZE} or an [H, W] pair of them (a "
         "1-pixel view has nothing to crop)"),
        ("data.numWorkers", 0 <= cfg.data.numWorkers <= PER_CORE * cores,
         f"in [0, {PER_CORE * cores}] ({PER_CORE} x the {cores} cores this process may use; each worker is a "
         "process holding a copy of the dataset)"),
        ("data.maxPixels", cfg.data.maxPixels >= 1, ">= 1"),
        ("data.syntheticImages", 1 <= cfg.data.syntheticImages <= 10_000_000, "in [1, 10000000]"),
        ("general.threads", 0 <= cfg.general.threads <= PER_CORE * cores,
         f"in [0, {PER_CORE * cores}] (0 = auto; {PER_CORE} x the {cores} cores this process may use)"),
        ("data.testPath", not cfg.data.testPath or cfg.data.dataset == "ImageFolder",
         "empty unless data.dataset is ImageFolder (the other datasets bring their own test split)"),
        ("data.blur", cfg.data.blur in ("auto", "on", "off"), "one of ['auto', 'on', 'off']"),
        ("data.augDevice", cfg.data.augDevice in ("cpu", "cuda"), "one of ['cpu', 'cuda']"),
        ("data.keepOnDevice", cfg.data.keepOnDevice in ("auto", "on", "off"), "one of ['auto', 'on', 'off']"),
        ("loss.temperature", cfg.loss.temperature > 0, "> 0"),
        ("optimizer.lr", cfg.optimizer.lr > 0, "> 0"),
        ("optimizer.warmupEpochs", cfg.optimizer.warmupEpochs >= 0, ">= 0"),
        ("log.evalEpoch", cfg.log.evalEpoch >= 0, ">= 0 (0 = only at the end)"),
        ("log.knnK", cfg.log.knnK >= 1, ">= 1"),
        ("log.knnT", cfg.log.knnT > 0, "> 0"),
        ("general.seed", 0 <= cfg.general.seed < 2 ** 32, "in [0, 2**32)"),
        ("optimizer.momentum", 0 <= cfg.optimizer.momentum < 1, "in [0, 1)"),
        ("optimizer.weightDecay", cfg.optimizer.weightDecay >= 0, ">= 0"),
        ("model.inChNo", cfg.model.inChNo == 3, "3: every dataset here yields RGB images"),
        ("general.name", len(cfg.general.name.encode()) <= MAX_NAME_BYTES,
         f"at most {MAX_NAME_BYTES} bytes (a folder name, with room for the file names inside)"),
        ("log.saveEpoch", cfg.log.saveEpoch >= 0, ">= 0 (0 = only at the end)"),
        ("general.name", bool(cfg.general.name.strip()) and "/" not in cfg.general.name
         and cfg.general.name not in (".", "..") and cfg.general.name == cfg.general.name.strip(),
         "a folder name: not blank, no '/', no leading or trailing spaces"),
    ]
    for key, ok, allowed in checks:
        if not ok:
            section, name = key.split(".")
            raise ConfigError(f"{key}={cfg[section][name]!r} is invalid; it must be {allowed}")


def check_finite_and_printable(node: Any, key: str = "") -> None:
    """Refuse ``inf``/``nan`` anywhere and text with control characters (NUL, newline) in any value.

    Raises:
        ConfigError: naming the key.
    """
    if isinstance(node, dict):
        for name, value in node.items():
            check_finite_and_printable(value, f"{key}.{name}" if key else str(name))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            check_finite_and_printable(value, f"{key}[{i}]")
    elif isinstance(node, float) and not math.isfinite(node):
        raise ConfigError(f"{key}={node!r} is invalid; it must be a finite number")
    elif isinstance(node, str) and not node.isprintable():
        raise ConfigError(f"{key}={node!r} is invalid; text may not hold control characters (NUL, newline, tab)")


def size_ok(value: Any) -> bool:
    """An int >= ``MIN_IMG_SIZE`` or a pair of them (``data.imgSize``)."""
    values = value if isinstance(value, list) and len(value) == 2 else [value]
    return all(isinstance(v, int) and not isinstance(v, bool) and v >= MIN_IMG_SIZE for v in values)


def to_plain(cfg: CN) -> dict:
    """The config as nested plain dicts (for checkpoints and YAML dumps)."""
    def convert(node):
        if isinstance(node, dict):
            return {k: convert(v) for k, v in node.items()}
        return copy.deepcopy(node)
    return convert(cfg)
