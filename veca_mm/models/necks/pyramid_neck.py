"""A feature pyramid for plain (single-stride) backbones such as VECA."""
from typing import Sequence

import torch.nn as nn
from mmcv.cnn import ConvModule, build_norm_layer
from mmengine.model import BaseModule
from mmengine.registry import MODELS

ALLOWED_SCALES = (4.0, 2.0, 1.0, 0.5, 0.25)


@MODELS.register_module()
class SimplePyramidNeck(BaseModule):
    """Stride-16 maps -> strides 4, 8, 16, 32 (and 64 on request).

    A plain ViT has a single stride; like ViTDet's simple feature pyramid,
    each level is the last (or its own) backbone map resampled by a
    transposed conv (x4, x2), kept (x1) or max-pooled (x0.5, x0.25), then a
    1x1 and a 3x3 conv, each followed by ``norm_cfg``.

    Args:
        in_channels: width of the backbone maps.
        out_channels: width of every pyramid level.
        scale_factors: one per level, from {4, 2, 1, 0.5, 0.25}.
        norm_cfg: LN2d (default), BN, SyncBN, GN ... (mmcv ``build_norm_layer``).

    ``forward`` takes either one map (every level from it) or one map per
    level (e.g. backbone ``out_indices=(3, 5, 7, 11)``); ``(map, cls)`` pairs
    from ``output_cls_token=True`` are accepted.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int = 256,
                 scale_factors: Sequence[float] = (4.0, 2.0, 1.0, 0.5),
                 norm_cfg: dict = dict(type='LN2d', requires_grad=True),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        bad = [s for s in scale_factors if float(s) not in ALLOWED_SCALES]
        if bad or not scale_factors:
            raise ValueError(f'SimplePyramidNeck: scale factors {bad or "[]"}'
                             f' are not supported; use values from '
                             f'{ALLOWED_SCALES}.')
        if 4.0 in scale_factors and in_channels % 4:
            raise ValueError(f'in_channels={in_channels} must be divisible by'
                             ' 4 for the x4 level (it halves the width twice).')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.scale_factors = tuple(float(s) for s in scale_factors)
        self.resample = nn.ModuleList(
            self._resampler(s, in_channels, norm_cfg)
            for s in self.scale_factors)
        self.out_convs = nn.ModuleList()
        for s in self.scale_factors:
            width = in_channels // 4 if s == 4.0 else (
                in_channels // 2 if s == 2.0 else in_channels)
            self.out_convs.append(nn.Sequential(
                ConvModule(width, out_channels, 1, norm_cfg=norm_cfg,
                           act_cfg=None),
                ConvModule(out_channels, out_channels, 3, padding=1,
                           norm_cfg=norm_cfg, act_cfg=None)))

    @staticmethod
    def _resampler(scale, dim, norm_cfg):
        if scale == 4.0:
            return nn.Sequential(
                nn.ConvTranspose2d(dim, dim // 2, 2, stride=2),
                build_norm_layer(norm_cfg, dim // 2)[1], nn.GELU(),
                nn.ConvTranspose2d(dim // 2, dim // 4, 2, stride=2))
        if scale == 2.0:
            return nn.ConvTranspose2d(dim, dim // 2, 2, stride=2)
        if scale == 1.0:
            return nn.Identity()
        return nn.MaxPool2d(int(round(1 / scale)), int(round(1 / scale)))

    def forward(self, inputs):
        maps = [x[0] if isinstance(x, (tuple, list)) else x for x in inputs]
        n = len(self.scale_factors)
        if len(maps) == 1:
            maps = maps * n
        elif len(maps) != n:
            raise ValueError(
                f'SimplePyramidNeck has {n} levels but got {len(maps)} '
                'backbone maps: set the backbone out_indices to one layer '
                f'(all levels from it) or to {n} layers (one per level).')
        return tuple(
            conv(resample(x))
            for x, resample, conv in zip(maps, self.resample, self.out_convs))
