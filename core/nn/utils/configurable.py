"""The ``Configurable`` mixin: declared hyperparameters with validated overrides.

``ResNet``, ``MLP`` and ``SimCLR`` declare their hyperparameters once, in a
class-level ``DEFAULTS`` dict. ``configure(**kwargs)`` copies the defaults,
applies the caller's overrides, rejects unknown names (a typo in a YAML's
``model.kwargs`` must fail loudly, not be ignored) and sets each value as an
attribute, so ``self.norm`` or ``self.archType`` read naturally in ``build()``.
"""
from __future__ import annotations

import copy
import math
import numbers
from contextlib import contextmanager
from typing import Any, ClassVar, Dict, Iterator


class Configurable:
    """Mixin that owns a class's hyperparameters.

    Subclasses set ``DEFAULTS`` and call ``self.configure(**kwargs)`` in their
    ``__init__``. They may override ``validate()`` to check value ranges.
    """

    DEFAULTS: ClassVar[Dict[str, Any]] = {}
    _contextDefaults: ClassVar[Dict[str, Any]] = {}

    @classmethod
    @contextmanager
    def using_defaults(cls, **values: Any) -> Iterator[None]:
        """Within the block, ``values`` replace ``DEFAULTS`` for this class; explicit keywords still win.

        ``SimCLR.build`` uses it so that the hyperparameters this project adds to the
        original tutorial (``baseChNo``, ...) reach the encoder even when the code in
        the task region does not pass them.

        Raises:
            ValueError: a name that is not a declared hyperparameter.
        """
        unknown = sorted(set(values) - set(cls.DEFAULTS))
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown hyperparameter(s) {unknown}; accepted: {sorted(cls.DEFAULTS)}")
        saved = cls.__dict__.get("_contextDefaults")
        cls._contextDefaults = {**cls._contextDefaults, **values}
        try:
            yield
        finally:
            if saved is None:
                del cls._contextDefaults
            else:
                cls._contextDefaults = saved

    def configure(self, **kwargs: Any) -> None:
        """Apply keyword overrides on top of ``DEFAULTS`` and validate them.

        Raises:
            ValueError: a keyword is not a declared hyperparameter.
        """
        unknown = sorted(set(kwargs) - set(self.DEFAULTS))
        if unknown:
            raise ValueError(
                f"{type(self).__name__}: unknown hyperparameter(s) {unknown}; "
                f"accepted: {sorted(self.DEFAULTS)}"
            )
        params = copy.deepcopy(self.DEFAULTS)
        params.update(copy.deepcopy(type(self)._contextDefaults))
        params.update(copy.deepcopy(kwargs))
        for name, value in params.items():
            setattr(self, name, value)
        self._hparamNames = tuple(params)
        self.validate()

    def validate(self) -> None:
        """Check hyperparameter values; subclasses raise ``ValueError``."""

    def hparams(self) -> Dict[str, Any]:
        """Return the effective hyperparameters as a plain, copyable dict."""
        return {name: copy.deepcopy(getattr(self, name)) for name in self._hparamNames}


MAX_WIDTH = 65536   # channels of one layer: ResNet-50's widest has 2048; 65536 x 65536 floats are 16 GiB


def positive_ints(**values: Any) -> Dict[str, int]:
    """``values`` as ints, or a ``ValueError`` naming the first that is not an integer in [1, ``MAX_WIDTH``].

    Example: ``inChNo=0``, ``outChNo=1e12`` (4 TB of weights), ``baseChNo='32'`` are refused.
    """
    out = {}
    for name, value in values.items():
        if (isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value)
                or int(value) != value or not 1 <= value <= MAX_WIDTH):
            raise ValueError(f"{name}={value!r} must be an integer in [1, {MAX_WIDTH}]")
        out[name] = int(value)
    return out
