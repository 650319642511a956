# Copyright (c) veca_mm contributors. Apache-2.0.
"""A ``nn.Linear`` that can run on weights cast once, ahead of a batch of
low-precision forwards.

Under autocast every forward casts every fp32 weight to bf16/fp16 again:
for VECA-B about 85 M parameters, ~5 % of a 512 x 512 CPU forward.
Caching the cast implicitly is unsafe: peft merges LoRA (and many tools
edit weights) through ``weight.data``, which no version counter sees, so a
cache would silently serve the old weights. Here the cache has an explicit
scope instead (``VECA.cast_weights``): inside it the weights are declared
fixed; outside it the layer is plain ``nn.Linear``. The layer is always
called as a module, so hooks and wrappers (LoRA, quantisation) act on it.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


def compute_dtype(device_type: str, default: torch.dtype) -> torch.dtype:
    """The dtype matmuls run in here: autocast's when it is on, else
    ``default`` (the weights' or the input's)."""
    if torch.amp.is_autocast_available(device_type) and \
            torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return default


class Linear(nn.Linear):
    """``nn.Linear`` (same parameters, same state-dict keys) that, while
    ``cast`` holds weights of the compute dtype, multiplies with those
    instead of casting its fp32 weights again. Used only in gradient-free
    forwards whose compute dtype matches; anything else is ``nn.Linear``."""

    cast: Optional[Tuple[torch.dtype, torch.Tensor, torch.Tensor]] = None

    def set_cast(self, dtype: Optional[torch.dtype]) -> None:
        """Cast the weights to ``dtype`` now and use them until
        ``set_cast(None)``."""
        if dtype is None:
            self.cast = None
            return
        with torch.no_grad():
            bias = None if self.bias is None else self.bias.to(dtype)
            self.cast = (dtype, self.weight.to(dtype), bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cast = self.cast
        if cast is None or (torch.is_grad_enabled()
                            and self.weight.requires_grad) \
                or compute_dtype(x.device.type, x.dtype) != cast[0] \
                or cast[1].device != x.device:
            return super().forward(x)
        return F.linear(x.to(cast[0]), cast[1], cast[2])
