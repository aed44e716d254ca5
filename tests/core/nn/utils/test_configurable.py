"""The Configurable mixin."""
import pytest

from core.nn.utils import Configurable


class Toy(Configurable):
    DEFAULTS = {"width": 8, "layers": [1, 2]}

    def __init__(self, **kwargs):
        self.configure(**kwargs)

    def validate(self):
        if self.width < 1:
            raise ValueError(f"width={self.width} must be >= 1")


def test_defaults_overrides_and_copies():
    toy = Toy(width=4)
    assert toy.width == 4 and toy.layers == [1, 2]
    toy.layers.append(3)
    assert Toy.DEFAULTS["layers"] == [1, 2]  # defaults are not shared mutable state
    assert toy.hparams() == {"width": 4, "layers": [1, 2, 3]}


def test_unknown_keyword_names_it_and_the_accepted_ones():
    expected = r"Toy: unknown hyperparameter\(s\) \['widht'\]; accepted: \['layers', 'width'\]"
    with pytest.raises(ValueError, match=expected):
        Toy(widht=3)


def test_validate_runs():
    with pytest.raises(ValueError, match="width=0"):
        Toy(width=0)
