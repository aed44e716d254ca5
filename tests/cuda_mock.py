"""A mocked CUDA for a machine without a GPU: device counts and capabilities faked, torch's own rules kept.

As PyTorch Lightning tests its accelerators, the queries (``is_available``, ``device_count``,
``is_bf16_supported``) are patched; ``torch.cuda.set_device`` itself is NOT replaced: torch's
own Python code runs (its ``_get_device_index`` refuses an index-less ``torch.device('cuda')``
exactly as on a GPU), and only the driver call beneath it is faked, refusing an ordinal past the
last device as the driver does. Tensors are not placed on the fake devices.
"""
from __future__ import annotations

from typing import List

import torch


class MockCuda:
    """What the code under test asked of the fake CUDA.

    Attributes:
        count: how many devices exist; bf16: whether they support bfloat16; free: bytes free on each.
        entered: the device indices passed to the driver by ``torch.cuda.set_device``, in order.
    """

    def __init__(self, monkeypatch, count: int = 1, bf16: bool = True, free: int = 139 * 2 ** 30):
        self.count, self.bf16, self.free = count, bf16, free
        self.entered: List[int] = []
        monkeypatch.setattr(torch.cuda, "is_available", lambda: self.count > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: self.count)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: self.bf16)
        monkeypatch.setattr(torch.cuda, "get_rng_state_all",
                            lambda: [torch.zeros(16, dtype=torch.uint8) for _ in range(self.count)])
        monkeypatch.setattr(torch.cuda, "set_rng_state_all", lambda states: None)
        monkeypatch.setattr(torch.cuda, "mem_get_info", self._mem_get_info)
        monkeypatch.setattr(torch._C, "_cuda_setDevice", self._driver_set_device, raising=False)

    def _mem_get_info(self, device=None):
        from torch.cuda._utils import _get_device_index

        index = _get_device_index(device, optional=True)
        if not 0 <= index < self.count:
            raise RuntimeError("CUDA error: invalid device ordinal")
        return self.free, 141 * 2 ** 30

    def _driver_set_device(self, index: int) -> None:
        if not 0 <= index < self.count:
            raise RuntimeError("CUDA error: invalid device ordinal")
        self.entered.append(index)
