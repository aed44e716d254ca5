"""BatchNorm whose batch statistics span all processes (SyncBatchNorm that also runs on the CPU).

With a small per-GPU batch, local BatchNorm lets the two views of an image
"see" each other's batch statistics and the contrastive task gets easier in a
way that does not transfer (Chen et al. 2020, Sec. 2.1, "Global BN"). On CUDA
``torch.nn.SyncBatchNorm`` does this; it refuses CPU tensors, so CPU/gloo runs
(and the tests) use ``GlobalBatchNorm2d`` below. Outside a process group both
behave as plain BatchNorm.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from core.nn.distributed import all_reduce_with_grad, is_distributed


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """``BatchNorm2d`` with mean/variance all-reduced over processes in training mode."""

    def forward(self, x: Tensor) -> Tensor:
        """``x [B, C, H, W] -> [B, C, H, W]``."""
        if not (self.training and is_distributed()):
            return super().forward(x)
        channels = x.shape[1]
        count = torch.tensor([x.numel() / channels], device=x.device, dtype=torch.float64)
        torch.distributed.all_reduce(count)
        n = count.item()
        xf = x.float()
        sums = torch.cat([xf.sum(dim=(0, 2, 3)), (xf * xf).sum(dim=(0, 2, 3))])   # [2C]
        sums = all_reduce_with_grad(sums)
        mean = sums[:channels] / n                                               # [C]
        var = (sums[channels:] / n - mean * mean).clamp_min(0)                   # [C], biased
        with torch.no_grad():
            momentum = self.momentum if self.momentum is not None else 0.1
            self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), momentum)
            unbiased = var.detach() * n / max(n - 1, 1)
            self.running_var.lerp_(unbiased.to(self.running_var.dtype), momentum)
            self.num_batches_tracked += 1
        scale = torch.rsqrt(var + self.eps)
        y = (xf - mean[None, :, None, None]) * scale[None, :, None, None]
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y.to(x.dtype)


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Batch statistics over all processes: torch's ``SyncBatchNorm`` on CUDA, ``GlobalBatchNorm2d`` elsewhere.

    On CUDA every BatchNorm layer is converted (a ``BatchNorm1d`` in the projection head too); elsewhere
    only ``BatchNorm2d`` layers are, so a head with ``projNorm: BatchNorm1d`` keeps per-process statistics
    on CPU runs.
    """
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    converted = module
    if isinstance(module, nn.BatchNorm2d) and not isinstance(module, GlobalBatchNorm2d):
        converted = GlobalBatchNorm2d(module.num_features, module.eps, module.momentum, module.affine,
                                      module.track_running_stats)
        converted.load_state_dict(module.state_dict())
        converted.train(module.training)
    for name, child in module.named_children():
        converted.add_module(name, convert_sync_batchnorm(child, device))
    return converted
