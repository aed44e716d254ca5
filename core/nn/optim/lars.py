"""LARS: layer-wise adaptive rate scaling (You, Gitman & Ginsburg, 2017).

SimCLR trains with LARS at large batch sizes (paper Sec. 2.1 "Training with
large batch size", Appendix B.1). For each parameter ``w`` with gradient
``g``, the weight decay is added first, ``d = g + wd * w``, and ``d`` is scaled
by the trust ratio ``eta * ||w|| / ||d||`` (1 when either norm is 0). As in the
official SimCLR implementation's "classic momentum", the learning rate is folded
into the velocity, ``v = momentum * v + lr * trust * d``, and the update is
``w -= v``: when the learning rate changes (warmup, cosine decay), earlier steps
keep the rate they were taken with. (``torch.optim.SGD`` instead multiplies the
whole buffer by the current rate.) Parameter groups with ``lars_exclude=True``
(BatchNorm and biases, see ``SimCLR.get_params``) get the same momentum update
without weight decay and trust ratio.
"""
from __future__ import annotations

import torch
from torch.optim import Optimizer


class LARS(Optimizer):
    """SGD with momentum and layer-wise trust ratios.

    Args:
        params: parameters or parameter groups.
        lr: base learning rate.
        momentum: momentum factor.
        weight_decay: L2 penalty added to the gradient before the trust ratio (not in excluded groups).
        eta: trust coefficient (0.001 in the LARS paper).
    """

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0,
                 eta: float = 0.001):
        if lr <= 0:
            raise ValueError(f"lr={lr!r} must be > 0")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum={momentum!r} must be in [0, 1)")
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta, lars_exclude=False)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        """Perform one optimization step."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                if not group["lars_exclude"]:
                    if group["weight_decay"]:
                        grad = grad.add(param, alpha=group["weight_decay"])
                    wNorm, gNorm = torch.linalg.vector_norm(param), torch.linalg.vector_norm(grad)
                    trust = torch.where((wNorm > 0) & (gNorm > 0), group["eta"] * wNorm / gNorm,
                                        torch.ones_like(wNorm))
                    grad = grad.mul(trust)
                step = grad.mul(group["lr"])                            # lr * trust * d
                state = self.state[param]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.clone(step).detach()
                else:
                    state["momentum_buffer"].mul_(group["momentum"]).add_(step)
                param.sub_(state["momentum_buffer"])
        return loss
