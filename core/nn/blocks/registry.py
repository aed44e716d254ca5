"""Normalization and activation layers looked up by their PyTorch names.

The networks take ``norm='BatchNorm2d'``, ``activ='ReLU'`` and so on, exactly as
the classes are called in ``torch.nn``; ``None`` (or the string ``'None'``)
means "no layer". An unknown name raises a ``ValueError`` listing the accepted
ones.
"""
from __future__ import annotations

import inspect
import math
import numbers
from typing import Any, Dict, Optional

from torch import nn

# Normalizations that make sense after a convolution ([B, C, H, W]) ...
CONV_NORMS = ("BatchNorm2d", "SyncBatchNorm", "GroupNorm", "InstanceNorm2d")
# ... and after a linear layer ([B, C]).
LINEAR_NORMS = ("BatchNorm1d", "SyncBatchNorm", "GroupNorm", "LayerNorm")

ACTIVATIONS = (
    "ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "SELU", "CELU", "GELU", "SiLU",
    "Mish", "Hardswish", "Softplus", "Tanh", "Sigmoid",
)


def _is_none(name: Optional[str]) -> bool:
    return name is None or (isinstance(name, str) and name.lower() == "none")


def make_norm(name: Optional[str], channels: int, kind: str = "conv",
              **kwargs: Any) -> nn.Module:
    """Build a normalization layer for ``channels`` features.

    Args:
        name: a ``torch.nn`` class name (see ``CONV_NORMS``/``LINEAR_NORMS``) or None.
        channels: number of features (C) the layer normalizes.
        kind: ``'conv'`` for ``[B, C, H, W]`` inputs, ``'linear'`` for ``[B, C]``.
        **kwargs: passed to the layer (e.g. ``num_groups`` for GroupNorm,
            ``momentum``/``eps`` for BatchNorm).

    Returns:
        The layer, or ``nn.Identity()`` when ``name`` is None.

    Raises:
        ValueError: unknown ``name`` or ``kind``.
    """
    if kind not in ("conv", "linear"):
        raise ValueError(f"kind={kind!r} is not supported; use 'conv' or 'linear'")
    if _is_none(name):
        return nn.Identity()
    allowed = CONV_NORMS if kind == "conv" else LINEAR_NORMS
    if name not in allowed:
        raise ValueError(
            f"norm={name!r} is not a {kind} normalization; accepted: {list(allowed)} or None"
        )
    kwargs = dict(kwargs)
    if name == "GroupNorm":
        # 32 groups (Wu & He, 2018) unless the channel count does not allow it.
        groups = kwargs.pop("num_groups", math.gcd(32, channels))
        return construct(nn.GroupNorm, "normKwargs", kwargs, groups, channels)
    return construct(getattr(nn, name), "normKwargs", kwargs, channels)


def make_activation(name: Optional[str], **kwargs: Any) -> nn.Module:
    """Build an activation layer from its ``torch.nn`` name (or None for identity).

    Raises:
        ValueError: ``name`` is not in ``ACTIVATIONS``.
    """
    if _is_none(name):
        return nn.Identity()
    if name not in ACTIVATIONS:
        raise ValueError(f"activ={name!r} is not supported; accepted: {list(ACTIVATIONS)} or None")
    return construct(getattr(nn, name), "activKwargs", kwargs)


def construct(cls: type, argName: str, kwargs: Dict[str, Any], *args: Any) -> nn.Module:
    """``cls(*args, **kwargs)`` after checking the keyword names and the types of numbers and flags.

    Raises:
        ValueError: an argument ``cls`` does not take, or a value of another type than its default
            (``eps='x'``, ``inplace=1``), naming ``argName`` and the class.
    """
    parameters = inspect.signature(cls).parameters
    unknown = sorted(set(kwargs) - set(parameters))
    if unknown:
        raise ValueError(f"{argName}: torch.nn.{cls.__name__} takes no argument(s) {unknown}; it takes "
                         f"{[p for p in parameters if p not in ('device', 'dtype')]}")
    for key, value in kwargs.items():
        default = parameters[key].default
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, (int, float)):
            ok = (isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
                  and (isinstance(default, float) or int(value) == value))
        else:
            ok = True
        if not ok:
            raise ValueError(f"{argName}: {key}={value!r} does not fit torch.nn.{cls.__name__} (expects a "
                             f"{'finite number' if not isinstance(default, bool) else 'bool'} like {default!r})")
    try:
        return cls(*args, **kwargs)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{argName}={kwargs!r} do not fit torch.nn.{cls.__name__}: {err}") from err


def check_layer_kwargs(kwargs: Optional[Dict[str, Any]], argName: str) -> Dict[str, Any]:
    """Return ``kwargs`` as a dict (None -> {}), or raise if it is not a mapping."""
    if kwargs is None:
        return {}
    if not isinstance(kwargs, dict):
        raise ValueError(f"{argName} must be a dict of keyword arguments, got {kwargs!r}")
    return dict(kwargs)
