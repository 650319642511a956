"""A feature pyramid for plain (single-stride) backbones such as VECA."""
from typing import Optional, Sequence

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule, build_norm_layer
from mmengine.model import BaseModule
from mmengine.registry import MODELS

from veca_mm.utils.checks import check_int

from ..layers import LN2d

ALLOWED_SCALES = (4.0, 2.0, 1.0, 0.5, 0.25)


def _norm_cfg_for(norm_cfg: dict) -> dict:
    """Copy ``norm_cfg``; LN2d gets ViTDet's eps 1e-6 unless one is set
    (``build_norm_layer`` would otherwise force 1e-5)."""
    cfg = dict(norm_cfg)
    if cfg.get('type') in ('LN2d', LN2d):
        cfg.setdefault('eps', 1e-6)
    return cfg


def _check_groups(norm_cfg: dict, channels: int, where: str):
    """GroupNorm only fails deep inside torch; name the layer and the fix."""
    groups = norm_cfg.get('num_groups')
    if norm_cfg.get('type') in ('GN', nn.GroupNorm) and groups and \
            channels % groups:
        raise ValueError(
            f'SimplePyramidNeck: norm_cfg GN num_groups={groups} does not '
            f'divide the '
            f'{channels} channels of {where}; pick num_groups dividing it.')


@MODELS.register_module()
class SimplePyramidNeck(BaseModule):
    """Single-stride maps -> a pyramid of ``scale_factors`` times their size.

    With a stride-``P`` backbone (VECA's ``patch_size``) level ``s`` has
    stride ``P / s``: strides 4, 8, 16, 32 (and 64 on request) for the
    patch-16 models, half that for patch 8. The neck does not know ``P``;
    the head's strides (anchor generator, ...) are set in the config.

    A plain ViT keeps one stride (16) throughout, yet FPN-style heads want a
    pyramid. Following ViTDet's simple feature pyramid, the pyramid is built
    after the fact instead of from a hierarchical backbone: each level is a
    backbone map resampled by transposed convs (x4, x2), kept (x1) or
    max-pooled (x0.5, x0.25), then projected by a 1x1 and a 3x3 conv, each
    followed by ``norm_cfg`` (no activation, as in ViTDet).

    Args:
        in_channels (int): Width D of the backbone maps.
        out_channels (int): Width of every pyramid level. Defaults to 256.
        scale_factors (Sequence[float]): One per level, from
            {4, 2, 1, 0.5, 0.25}; the output keeps this order, so list them
            from high to low resolution. Defaults to (4.0, 2.0, 1.0, 0.5).
        norm_cfg (dict): LN2d, BN, SyncBN, GN, ... built by mmcv's
            ``build_norm_layer``; also used inside the x4 path.
            Defaults to dict(type='LN2d', requires_grad=True).
        init_cfg (dict, optional): mmengine init config. Defaults to None.

    ``forward`` takes either one map (every level from it, ViTDet style) or
    one map per level (e.g. backbone ``out_indices=(3, 5, 7, 11)``);
    ``(map, cls)`` pairs from ``output_cls_token=True`` are accepted.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int = 256,
                 scale_factors: Sequence[float] = (4.0, 2.0, 1.0, 0.5),
                 norm_cfg: dict = dict(type='LN2d', requires_grad=True),
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        for name, value in (('in_channels', in_channels),
                            ('out_channels', out_channels)):
            check_int(name, value, lo=1, owner='SimplePyramidNeck')
        if not isinstance(scale_factors, (list, tuple)):
            raise TypeError(f'SimplePyramidNeck: scale_factors='
                            f'{scale_factors!r} must be a list of values '
                            f'from {ALLOWED_SCALES}.')
        if not isinstance(norm_cfg, dict) or 'type' not in norm_cfg:
            raise TypeError(f'SimplePyramidNeck: norm_cfg={norm_cfg!r} must '
                            "be a dict with a 'type' (e.g. dict(type='LN2d')"
                            ').')
        scale_factors = tuple(scale_factors)
        bad = [s for s in scale_factors
               if isinstance(s, bool) or s not in ALLOWED_SCALES]
        if bad or not scale_factors:
            raise ValueError(
                f'SimplePyramidNeck: scale factors {bad or "()"} are not '
                f'supported; use scale_factors, a non-empty list of values from '
                f'{ALLOWED_SCALES}.')
        if 4.0 in scale_factors and in_channels % 4:
            raise ValueError(
                f'SimplePyramidNeck: in_channels={in_channels} must be '
                'divisible by 4 for scale factor 4.0 (it halves the width '
                'twice).')
        norm_cfg = _norm_cfg_for(norm_cfg)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.scale_factors = tuple(float(s) for s in scale_factors)

        _check_groups(norm_cfg, out_channels, 'the output convs (out_channels)')
        self.resample = nn.ModuleList()
        self.out_convs = nn.ModuleList()
        for s in self.scale_factors:
            resample, width = self._resampler(s, in_channels, norm_cfg)
            self.resample.append(resample)
            self.out_convs.append(nn.Sequential(
                ConvModule(width, out_channels, 1, norm_cfg=norm_cfg,
                           act_cfg=None),
                ConvModule(out_channels, out_channels, 3, padding=1,
                           norm_cfg=norm_cfg, act_cfg=None)))

    @staticmethod
    def _resampler(scale: float, dim: int, norm_cfg: dict):
        """Return the resampling module for ``scale`` and its output width."""
        if scale == 4.0:
            _check_groups(norm_cfg, dim // 2,
                          'the x4 upsampling path (in_channels / 2)')
            return nn.Sequential(
                nn.ConvTranspose2d(dim, dim // 2, 2, stride=2),
                build_norm_layer(norm_cfg, dim // 2)[1],
                nn.GELU(),
                nn.ConvTranspose2d(dim // 2, dim // 4, 2, stride=2)), dim // 4
        if scale == 2.0:
            return nn.ConvTranspose2d(dim, dim // 2, 2, stride=2), dim // 2
        if scale == 1.0:
            return nn.Identity(), dim
        k = int(round(1 / scale))
        return nn.MaxPool2d(kernel_size=k, stride=k), dim

    def forward(self, inputs):
        if isinstance(inputs, torch.Tensor):
            inputs = (inputs, )
        maps = [x[0] if isinstance(x, (tuple, list)) else x for x in inputs]
        n = len(self.scale_factors)
        if len(maps) == 1:
            maps = maps * n
        elif len(maps) != n:
            raise ValueError(
                f'SimplePyramidNeck has {n} levels (scale_factors='
                f'{self.scale_factors}) but got {len(maps)} backbone maps: '
                'set the backbone out_indices to one layer (all levels from '
                f'it) or to {n} layers (one per level).')
        return tuple(
            conv(resample(x))
            for x, resample, conv in zip(maps, self.resample, self.out_convs))
