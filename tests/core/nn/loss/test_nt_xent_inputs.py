"""NTXent's argument checks (given code, not graded as Task 4: they run before the student's lines)."""
import pytest
import torch

from core.nn.loss import NTXent


@pytest.mark.parametrize("temperature", [0, -0.1, float("nan"), float("inf")])
def test_rejects_bad_temperature(temperature):
    with pytest.raises(ValueError, match="temperature"):
        NTXent(temperature)


@pytest.mark.parametrize("shapes", [((4, 8), (5, 8)), ((4, 8), (4, 9)), ((4,), (4,)), ((0, 8), (0, 8))])
def test_rejects_mismatched_shapes(shapes):
    with pytest.raises(ValueError, match="zA and zB"):
        NTXent(0.5)(torch.randn(*shapes[0]), torch.randn(*shapes[1]))
