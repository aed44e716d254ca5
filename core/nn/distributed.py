"""Small helpers for ``torch.distributed`` (torchrun): rank queries and a gather that keeps gradients."""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def is_distributed() -> bool:
    """True inside an initialized process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


class _GatherWithGrad(torch.autograd.Function):
    """All-gather along dim 0 whose backward sums the incoming gradients over ranks.

    Every rank uses the gathered tensor in its own loss, so the gradient of the
    total loss with respect to this rank's slice is the *sum* of what all ranks
    send back for it. A plain ``dist.all_gather`` returns tensors without a
    graph: the gradient of the other ranks' slices is silently lost, and the
    model learns from local negatives only.
    """

    @staticmethod
    def forward(ctx, tensor: Tensor) -> Tensor:
        ctx.rows = tensor.shape[0]
        parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = dist.get_rank() * ctx.rows
        return grad[start:start + ctx.rows]


def gather_with_grad(tensor: Tensor) -> Tensor:
    """``[n, ...]`` on each of W ranks -> ``[W * n, ...]`` in rank order, gradients flowing back."""
    if not is_distributed():
        return tensor
    return _GatherWithGrad.apply(tensor)


class _AllReduceWithGrad(torch.autograd.Function):
    """All-reduce (sum) whose backward is also an all-reduce (sum): the adjoint of a sum over ranks."""

    @staticmethod
    def forward(ctx, tensor: Tensor) -> Tensor:
        out = tensor.clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        grad = grad.clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad


def all_reduce_with_grad(tensor: Tensor) -> Tensor:
    """Sum of ``tensor`` over ranks, differentiable."""
    if not is_distributed():
        return tensor
    return _AllReduceWithGrad.apply(tensor)
