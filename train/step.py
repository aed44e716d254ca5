"""One SimCLR optimization step, shared by the trainer and the training benchmark."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional

import torch
import torch.distributed as dist
from torch import nn

from core.eval.positive_pairs import positive_pair_top1
from core.nn.utils.device import Precision
from train.augmentation_setup import views_on_device


def float32_loss(lossFn: Callable, zA: torch.Tensor, zB: torch.Tensor) -> torch.Tensor:
    """``lossFn(zA, zB)`` on float32 inputs with autocast off: the one place mixed precision meets the loss.

    Any correct NT-Xent is then correct under AMP too: bf16/fp16 logits would lose the small
    differences the softmax ranks, and a large negative mask value overflows in fp16. The
    cast is differentiable, so gradients flow back to the half-precision projections.
    """
    with torch.autocast(zA.device.type, enabled=False):
        return lossFn(zA.float(), zB.float())


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class TrainStep:
    """Both views through the model, NT-Xent, backward, optimizer (and per-step scheduler) step.

    Attributes:
        model: what the views go through (the model, or its DDP / compiled wrapper).
        lossFn: ``loss(zA, zB) -> scalar``.
        optimizer, scaler: the optimizer and the (possibly disabled) ``GradScaler``.
        device: where the step runs.
        batchAugment: the batched view maker (``data.augDevice cuda``) or None.
        scheduler: stepped after every optimizer step, or None.
        precision: autocast dtype and channels_last (``core.nn.utils.device.precision_for``).
        worldSize: processes whose statistics are averaged (torchrun).
    """

    model: nn.Module
    lossFn: Callable
    optimizer: torch.optim.Optimizer
    scaler: Any
    device: torch.device
    batchAugment: Optional[Callable] = None
    scheduler: Optional[Any] = None
    precision: Precision = Precision()
    worldSize: int = 1

    def __call__(self, batch: Any) -> Dict[str, float]:
        """One step on a loader batch; returns ``{"loss", "pos_top1"}``.

        The statistics reach the host in one sync per step; an enabled fp16 ``GradScaler``
        adds its own (its ``step`` reads whether the gradients overflowed). bf16 and fp32 need none.

        Raises:
            NonFiniteLossError: the loss is NaN or infinite (the caller says what to change).
        """
        images = torch.cat(views_on_device(batch[0], self.batchAugment, self.device))   # [2B, 3, H, W]
        if self.precision.channelsLast:
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=self.precision.dtype, enabled=self.precision.amp):
            _, z = self.model(images)                                                    # [2B, outChNo]
        zA, zB = z.chunk(2)
        loss = float32_loss(self.lossFn, zA, zB)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.scheduler is not None:
            self.scheduler.step()
        # This process's pairs only (also under torchrun): a monitor, independent of how the loss is written.
        stats = torch.stack([loss.detach().float(), positive_pair_top1(zA.detach(), zB.detach())])
        if self.worldSize > 1:
            dist.all_reduce(stats)
            stats /= self.worldSize
        lossValue, posTop1 = stats.tolist()          # the step's only wait for the device
        if not math.isfinite(lossValue):
            raise NonFiniteLossError(f"the loss is {lossValue}")
        return {"loss": lossValue, "pos_top1": posTop1}
