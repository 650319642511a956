# Copyright (c) veca_mm contributors. Apache-2.0.
"""A light FPN depth head for mmseg's ``DepthEstimator`` and a masked SiLog.

Why not mmseg's ``SiLogLoss`` as is: it treats every ``gt > 1e-6`` as valid
and has no upper bound, but mmseg pads depth maps with ``seg_pad_val=255``
(``SegDataPreProcessor`` batching, ``RandomRotate`` borders), which it then
trains on as 255 m of ground truth; and an image with no valid pixel (a KITTI
crop above the LiDAR's field of view) enters the batch mean as a zero loss.
:class:`MaskedSiLogLoss` keeps only ``min_depth < gt < max_depth`` (the
metric's rule, :func:`veca_mm.utils.depth.valid_depth_mask`) and averages
over the images that have a valid pixel.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.registry import MODELS
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.utils import resize
from torch import Tensor

from veca_mm.utils.checks import check_bool, check_int, check_number
from veca_mm.utils.depth import valid_depth_mask


def check_head_args(owner: str, channels=None, dropout_ratio=0.,
                    norm_cfg=None, **kwargs) -> None:
    """The ``BaseDecodeHead`` arguments that mmseg passes to torch or mmcv
    unchecked (widths, dropout, norm, ``align_corners``), named here."""
    if channels is not None:
        check_int('channels', channels, lo=1, owner=owner)
    check_number('dropout_ratio', dropout_ratio, lo=0, hi=1, hi_open=True,
                 owner=owner)
    if norm_cfg is not None and (not isinstance(norm_cfg, dict)
                                 or 'type' not in norm_cfg):
        raise TypeError(f'{owner}: norm_cfg={norm_cfg!r} must be None or a '
                        "dict with a 'type' (e.g. dict(type='BN')).")
    check_bool('align_corners', kwargs.get('align_corners', False),
               owner=owner)


@MODELS.register_module()
class MaskedSiLogLoss(nn.Module):
    """Scale-invariant log loss over valid pixels only (BTS form).

    Per image, ``d = log(pred) - log(gt)`` over ``min_depth < gt <
    max_depth`` (the metric's rule), ``loss = scale * sqrt(mean(d^2) - variance_focus *
    mean(d)^2)``; then the mean over the images that have a valid pixel
    (zero, with zero gradient, when none has).

    Args:
        min_depth (float): Ground truth at or below this is invalid
            (0 = no LiDAR return / missing Kinect depth). Defaults to 1e-3.
        max_depth (float, optional): Ground truth at or above this is
            invalid (padding, sky); :class:`VECADepthHead` fills in its own
            ``max_depth`` when None. Defaults to None.
        variance_focus (float): Lambda, in [0, 1]; 0.85 as BTS / AdaBins.
            Defaults to 0.85.
        scale (float): 10 as BTS. Defaults to 10.0.
        loss_weight (float): Multiplies the loss. Defaults to 1.0.
        eps (float): Predictions are clamped to at least ``eps``.
            Defaults to 1e-6.
        loss_name (str): Key in the loss dict; it must start with
            ``loss_``, or mmseg leaves it out of the total loss.
            Defaults to 'loss_silog'.
    """

    def __init__(self,
                 min_depth: float = 1e-3,
                 max_depth: Optional[float] = None,
                 variance_focus: float = 0.85,
                 scale: float = 10.0,
                 loss_weight: float = 1.0,
                 eps: float = 1e-6,
                 loss_name: str = 'loss_silog'):
        super().__init__()
        owner = 'MaskedSiLogLoss'
        check_number('min_depth', min_depth, lo=0, owner=owner)
        check_number('max_depth', max_depth, lo=min_depth, lo_open=True,
                     allow_none=True, owner=owner)
        check_number('variance_focus', variance_focus, 0, 1, owner=owner)
        check_number('scale', scale, lo=0, lo_open=True, owner=owner)
        check_number('loss_weight', loss_weight, owner=owner)
        check_number('eps', eps, lo=0, lo_open=True, owner=owner)
        if not isinstance(loss_name, str) or not loss_name.startswith(
                'loss_'):
            raise ValueError(f'{owner}: loss_name={loss_name!r} must be a str '
                             "starting with 'loss_' (mmseg sums only those "
                             'into the loss it optimises).')
        self.min_depth, self.max_depth = min_depth, max_depth
        self.variance_focus = variance_focus
        self.scale = scale
        self.loss_weight = loss_weight
        self.eps = eps
        self._loss_name = loss_name

    def valid_mask(self, target: Tensor) -> Tensor:
        max_depth = float('inf') if self.max_depth is None else \
            self.max_depth
        return valid_depth_mask(target, self.min_depth, max_depth)

    def forward(self, pred: Tensor, target: Tensor, **kwargs) -> Tensor:
        assert pred.shape == target.shape, \
            f'prediction {tuple(pred.shape)} vs target {tuple(target.shape)}'
        pred, target = pred.flatten(1), target.flatten(1)
        valid = self.valid_mask(target)
        w = valid.to(pred.dtype)
        safe_target = torch.where(valid, target, torch.ones_like(target))
        d = (torch.log(pred.clamp(min=self.eps)) - torch.log(safe_target)) * w
        count = w.sum(1)
        has = count > 0
        if not has.any():
            return pred.sum() * 0.0
        n = count[has]
        mean = d[has].sum(1) / n
        mean_sq = d[has].pow(2).sum(1) / n
        var = (mean_sq - self.variance_focus * mean.pow(2)).clamp(min=1e-12)
        loss = self.scale * var.sqrt()
        return self.loss_weight * loss.mean()

    @property
    def loss_name(self) -> str:
        return self._loss_name


@MODELS.register_module()
class VECADepthHead(BaseDecodeHead):
    """FPN fusion of a feature pyramid into a metric depth map.

    Each level goes through a 1x1 lateral conv, a top-down pathway adds the
    coarser levels, a 3x3 conv smooths every level; all are upsampled to the
    finest level, concatenated and fused by a 3x3 conv, upsampled x2 and
    refined by a 3x3 conv; a 1x1 conv then gives
    ``depth = sigmoid(logit) * max_depth`` (positive, bounded). With VECA +
    :class:`SimplePyramidNeck` (strides 4..32) the output has stride 2; the
    loss and ``predict`` resize it to the ground truth / input size.

    Plugs into mmseg's ``DepthEstimator``: ``loss_by_feat`` reads
    ``gt_depth_map`` from the data samples; ``predict_by_feat`` (inherited)
    resizes to the padded input shape.

    Args:
        in_channels (Sequence[int]): Channels of the pyramid levels.
            Defaults to (256, 256, 256, 256).
        channels (int): Width of the decoder. Defaults to 128.
        in_index (Sequence[int]): Which levels to use, finest first, one per
            ``in_channels``. Defaults to (0, 1, 2, 3).
        max_depth (float): Output bound (10 NYUv2, 80 KITTI). Defaults to 10.0.
        norm_cfg (dict, optional): Norm of the convs.
            Defaults to dict(type='BN', requires_grad=True).
        dropout_ratio (float): Dropout before the last conv, in [0, 1).
            Defaults to 0.0.
        loss_decode (dict | list[dict]): A loss with a ``max_depth`` of None
            gets the head's. Defaults to dict(type='MaskedSiLogLoss').
        **kwargs: The rest of ``BaseDecodeHead`` (``act_cfg``,
            ``align_corners``, ``init_cfg``, ...).
    """

    def __init__(self,
                 in_channels: Sequence[int] = (256, 256, 256, 256),
                 channels: int = 128,
                 in_index: Sequence[int] = (0, 1, 2, 3),
                 max_depth: float = 10.0,
                 norm_cfg: Optional[dict] = dict(type='BN',
                                                 requires_grad=True),
                 dropout_ratio: float = 0.0,
                 loss_decode=dict(type='MaskedSiLogLoss'),
                 **kwargs):
        owner = 'VECADepthHead'
        check_number('max_depth', max_depth, lo=0, lo_open=True, owner=owner)
        for name, seq in (('in_channels', in_channels),
                          ('in_index', in_index)):
            if not isinstance(seq, (list, tuple)) or not seq:
                raise TypeError(f'{owner}: {name}={seq!r} must be a non-empty'
                                ' list of ints (one per pyramid level).')
            for v in seq:
                check_int(name, v, lo=1 if name == 'in_channels' else None,
                          owner=f'{owner} (an entry of)')
        if len(in_index) != len(in_channels):
            raise ValueError(f'{owner}: in_index={in_index} and in_channels='
                             f'{in_channels} must have one entry per level.')
        check_int('channels', channels, lo=1, owner=owner)  # required here
        check_head_args(owner, channels, dropout_ratio, norm_cfg, **kwargs)
        fixed = dict(num_classes=1, out_channels=1,
                     input_transform='multiple_select')
        clash = {k: kwargs.pop(k) for k in fixed if k in kwargs}
        clash = {k: v for k, v in clash.items() if v != fixed[k]}
        if clash:
            raise ValueError(
                f'VECADepthHead predicts one depth channel from the levels in '
                f'in_index: {clash} cannot be changed (it is always '
                f'{fixed}). Remove these keys; when the config inherits a '
                'segmentation decode_head, replace it with _delete_=True.')
        # threshold: unused (DepthEstimator post-processes depth itself);
        # given only to silence BaseDecodeHead's binary-segmentation warning.
        kwargs.setdefault('threshold', 0.5)
        super().__init__(
            in_channels=list(in_channels),
            channels=channels,
            num_classes=1,
            out_channels=1,
            in_index=list(in_index),
            input_transform='multiple_select',
            norm_cfg=norm_cfg,
            dropout_ratio=dropout_ratio,
            loss_decode=loss_decode,
            **kwargs)
        self.max_depth = float(max_depth)
        losses = self.loss_decode if isinstance(
            self.loss_decode, nn.ModuleList) else [self.loss_decode]
        for loss in losses:
            if getattr(loss, 'max_depth', False) is None:
                loss.max_depth = self.max_depth

        conv = dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg,
                    act_cfg=self.act_cfg)
        self.lateral_convs = nn.ModuleList(
            [ConvModule(c, channels, 1, **conv) for c in self.in_channels])
        self.fpn_convs = nn.ModuleList([
            ConvModule(channels, channels, 3, padding=1, **conv)
            for _ in self.in_channels
        ])
        self.fuse_conv = ConvModule(
            channels * len(self.in_channels), channels, 3, padding=1, **conv)
        self.refine_conv = ConvModule(channels, channels, 3, padding=1, **conv)

    def forward(self, inputs: Tuple[Tensor]) -> Tensor:
        feats = self._transform_inputs(inputs)
        lats = [conv(x) for conv, x in zip(self.lateral_convs, feats)]
        for i in range(len(lats) - 1, 0, -1):
            lats[i - 1] = lats[i - 1] + resize(
                lats[i], size=lats[i - 1].shape[2:], mode='bilinear',
                align_corners=self.align_corners)
        outs = [conv(x) for conv, x in zip(self.fpn_convs, lats)]
        size = outs[0].shape[2:]
        outs = [outs[0]] + [
            resize(x, size=size, mode='bilinear',
                   align_corners=self.align_corners) for x in outs[1:]
        ]
        x = self.fuse_conv(torch.cat(outs, dim=1))
        x = resize(x, scale_factor=2, mode='bilinear',
                   align_corners=self.align_corners)
        x = self.refine_conv(x)
        return torch.sigmoid(self.cls_seg(x)) * self.max_depth

    def _stack_batch_gt(self, batch_data_samples) -> Tensor:
        return torch.stack(
            [s.gt_depth_map.data for s in batch_data_samples], dim=0)

    def loss_by_feat(self, pred_depth_map: Tensor,
                     batch_data_samples) -> dict:
        gt = self._stack_batch_gt(batch_data_samples).to(pred_depth_map)
        pred = resize(pred_depth_map, size=gt.shape[2:], mode='bilinear',
                      align_corners=self.align_corners)
        losses = self.loss_decode if isinstance(
            self.loss_decode, nn.ModuleList) else [self.loss_decode]
        loss = dict()
        for loss_decode in losses:
            value = loss_decode(pred, gt)
            name = loss_decode.loss_name
            loss[name] = loss[name] + value if name in loss else value
        return loss
