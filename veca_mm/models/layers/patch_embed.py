# Copyright (c) veca_mm contributors. Apache-2.0.
"""VECA's patch embedding and the initial spread of its core positions."""
from typing import Optional

import torch
import torch.nn as nn


def farthest_point_init(num_cores: int, pool: int = 1000,
                        extent: float = 0.95,
                        generator: Optional[torch.Generator] = None
                        ) -> torch.Tensor:
    """Spread the initial core positions over the image (raw, pre-tanh)."""
    # Always on the CPU, so the model can also be built on the meta device.
    pts = (torch.rand(pool, 2, generator=generator, device='cpu') * 2 - 1) \
        * extent
    chosen = [int(pts.norm(dim=1).argmin())]
    dist = (pts - pts[chosen[0]]).norm(dim=1)
    for _ in range(num_cores - 1):
        idx = int(dist.argmax())
        chosen.append(idx)
        dist = torch.minimum(dist, (pts - pts[idx]).norm(dim=1))
    return torch.atanh(pts[chosen])


class PatchEmbed(nn.Module):
    """Non-overlapping patches to tokens: a strided conv, then optionally a
    LayerNorm (released ``patch_embed_use_ln``).

    Args:
        in_channels (int): Input image channels.
        embed_dims (int): Token width.
        patch_size (int): Patch side (the conv's kernel and stride).
        norm (bool): LayerNorm over each token after the projection.
    """

    def __init__(self, in_channels: int, embed_dims: int, patch_size: int,
                 norm: bool):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dims, patch_size, patch_size)
        if norm:
            self.norm = nn.LayerNorm(embed_dims, eps=1e-5)

    def forward(self, x):
        x = self.proj(x)
        hw = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2)
        if hasattr(self, 'norm'):
            x = self.norm(x)
        return x, hw
