"""Task 4, optional part (the original tutorial's OPTIONAL): an efficient NT-Xent.

Graded apart from Task 4 (``pytest -m task4_optional``): a correct loss that is
slow still passes Task 4. (Mixed precision is the trainer's: it calls the loss in float32
with autocast off, ``train/step.py``, tested in ``tests/train/test_state.py``.)
"""
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from core.nn.loss import NTXent

pytestmark = pytest.mark.task4_optional

FACTORIES = {"arange", "eye", "ones", "zeros", "full", "ones_like", "zeros_like", "full_like", "tensor",
             "scalar_tensor", "randperm", "linspace", "cat", "stack", "tril_indices", "triu_indices"}


class FactoryCounter(TorchDispatchMode):
    """Records the ops that build new index-like tensors (long/bool) of at least ``minSize`` elements."""

    def __init__(self, minSize):
        super().__init__()
        self.minSize, self.made = minSize, []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__
        if isinstance(out, torch.Tensor) and out.dtype in (torch.long, torch.int, torch.bool) \
                and out.numel() >= self.minSize and (name in FACTORIES or name.startswith(("eye", "arange"))):
            shape = "x".join(map(str, out.shape))
            self.made.append(f"torch.{name} giving a {out.dtype} tensor of shape [{shape}]")
        return out


@pytest.mark.inprocess   # counts what the loss builds from inside its process
def test_what_depends_only_on_the_batch_size_is_built_once():
    batch = 16
    loss = NTXent(0.5)
    zA, zB = torch.randn(batch, 8), torch.randn(batch, 8)
    loss(zA, zB)                                  # the first call may build the index / mask
    with FactoryCounter(2 * batch) as counter:
        loss(torch.randn(batch, 8), torch.randn(batch, 8))
    assert not counter.made, (
        f"Task 4 (optional): the second call with the same B built again: {'; '.join(counter.made)}. Keep the positive "
        "index / mask of each batch size (e.g. a dict keyed by (B, device)) instead of rebuilding it")


@pytest.mark.inprocess   # counts what the loss builds from inside its process
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
    assert sizes and max(sizes) < (2 * batch) ** 2 * dim, (
        f"Task 4 (optional): a tensor of {max(sizes)} elements (>= 2B x 2B x D = {(2 * batch) ** 2 * dim}) was "
        "kept for backward: a broadcast cosine_similarity costs O(B^2 D) memory; normalize the rows and take "
        "one matrix product instead")
