"""Task 4: NT-Xent against the paper's formula, closed forms and training behaviour."""
import math

import pytest
import torch

from core.nn.loss import NTXent

pytestmark = pytest.mark.task4


def brute_force_nt_xent(zA, zB, temperature):
    """The paper's Eq. (1) and Algorithm 1, as loops in float64."""
    z = torch.cat([zA, zB]).double()
    n, batch = z.shape[0], zA.shape[0]
    sim = [[torch.dot(z[i], z[k]) / (z[i].norm() * z[k].norm()) for k in range(n)] for i in range(n)]
    total = 0.0
    for i in range(n):
        j = (i + batch) % n
        denom = sum(math.exp(sim[i][k] / temperature) for k in range(n) if k != i)
        total += -math.log(math.exp(sim[i][j] / temperature) / denom)
    return total / n


@pytest.mark.parametrize("batch", [1, 2, 5, 64])
@pytest.mark.parametrize("dim", [3, 128])
@pytest.mark.parametrize("temperature", [0.07, 0.5, 1.0])
def test_matches_brute_force(batch, dim, temperature):
    gen = torch.Generator().manual_seed(batch * 1000 + dim)
    zA, zB = torch.randn(batch, dim, generator=gen), torch.randn(batch, dim, generator=gen)
    expected = brute_force_nt_xent(zA, zB, temperature)
    assert NTXent(temperature)(zA, zB).item() == pytest.approx(expected, rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("batch", [1, 3, 16])
def test_identical_embeddings_give_log_2b_minus_1(batch):
    z = torch.randn(1, 8).repeat(batch, 1)
    assert NTXent(0.5)(z, z.clone()).item() == pytest.approx(math.log(2 * batch - 1), abs=1e-6)


def test_symmetric_in_its_two_inputs():
    zA, zB = torch.randn(7, 16), torch.randn(7, 16)
    loss = NTXent(0.3)
    assert loss(zA, zB).item() == pytest.approx(loss(zB, zA).item(), rel=1e-6)


def test_scale_invariant_because_cosine():
    zA, zB = torch.randn(5, 16), torch.randn(5, 16)
    loss = NTXent(0.5)
    assert loss(3.0 * zA, 0.1 * zB).item() == pytest.approx(loss(zA, zB).item(), rel=1e-5)


def test_matching_pairs_score_lower_than_shuffled_pairs():
    zA = torch.randn(32, 64)
    zB = zA + 0.05 * torch.randn(32, 64)
    loss = NTXent(0.5)
    assert loss(zA, zB) < loss(zA, zB[torch.randperm(32).roll(1)]) - 0.5


def test_gradient_reaches_both_inputs():
    zA = torch.randn(4, 8, requires_grad=True)
    zB = torch.randn(4, 8, requires_grad=True)
    NTXent(0.5)(zA, zB).backward()
    for grad in (zA.grad, zB.grad):
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_a_few_optimizer_steps_lower_the_loss():
    torch.manual_seed(0)
    zA = torch.randn(16, 8, requires_grad=True)
    zB = torch.randn(16, 8, requires_grad=True)
    loss = NTXent(0.5)
    opt = torch.optim.SGD([zA, zB], lr=1.0)
    first = loss(zA, zB).item()
    for _ in range(20):
        opt.zero_grad()
        loss(zA, zB).backward()
        opt.step()
    assert loss(zA, zB).item() < first - 0.3


def test_bf16_autocast_matches_float32():
    zA, zB = torch.randn(32, 128), torch.randn(32, 128)
    loss = NTXent(0.5)
    reference = loss(zA, zB).item()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = loss(zA.bfloat16(), zB.bfloat16())
    assert value.dtype == torch.float32
    assert value.item() == pytest.approx(reference, abs=1e-2)


def test_logits_and_targets_mark_the_positive_pairs():
    zA = torch.randn(6, 32)
    loss, logits, targets = NTXent(0.5)(zA, zA.clone(), return_logits=True)
    assert logits.shape == (12, 12) and targets.tolist() == [6, 7, 8, 9, 10, 11, 0, 1, 2, 3, 4, 5]
    assert torch.isneginf(logits.diagonal()).all()
    # Identical views: each anchor's best candidate is its positive.
    assert (logits.argmax(dim=1) == targets).all()


def test_batch_size_read_from_inputs_each_call():
    loss = NTXent(0.5)
    for batch in (8, 3, 8, 1):  # e.g. a smaller last batch, then full batches again
        zA, zB = torch.randn(batch, 4), torch.randn(batch, 4)
        assert loss(zA, zB).item() == pytest.approx(brute_force_nt_xent(zA, zB, 0.5), rel=1e-5)


def test_positive_index_is_cached():
    loss = NTXent(0.5)
    loss(torch.randn(4, 8), torch.randn(4, 8))
    cached = loss._positive_index(4, torch.device("cpu"))
    assert cached.tolist() == [4, 5, 6, 7, 0, 1, 2, 3]
    assert loss._positive_index(4, torch.device("cpu")) is cached


@pytest.mark.parametrize("temperature", [0, -0.1, float("nan"), float("inf")])
def test_rejects_bad_temperature(temperature):
    with pytest.raises(ValueError, match="temperature"):
        NTXent(temperature)


@pytest.mark.parametrize("shapes", [((4, 8), (5, 8)), ((4, 8), (4, 9)), ((4,), (4,)), ((0, 8), (0, 8))])
def test_rejects_mismatched_shapes(shapes):
    with pytest.raises(ValueError, match="zA and zB"):
        NTXent(0.5)(torch.randn(*shapes[0]), torch.randn(*shapes[1]))


def test_no_2b_by_2b_by_d_intermediate():
    batch, dim = 8, 16
    zA = torch.randn(batch, dim, requires_grad=True)
    zB = torch.randn(batch, dim, requires_grad=True)
    sizes = []

    def pack(tensor):
        sizes.append(tensor.numel())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        NTXent(0.5)(zA, zB).backward()
    assert sizes and max(sizes) < (2 * batch) ** 2 * dim
