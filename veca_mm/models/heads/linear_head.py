# Copyright (c) veca_mm contributors. Apache-2.0.
"""Linear heads for frozen-backbone probing, in the DINOv2 linear form.

Why our own: mmseg 1.2.2 has no head that normalises the features with a
BatchNorm before a 1x1 classifier (its ``FCNHead(num_convs=0)`` is a bare
1x1 conv and cannot take the CLS token) and no linear depth head at all.

Both heads read the backbone's last output: a map ``B x D x h x w`` or, with
``VECA(output_cls_token=True)``, the pair ``(map, cls)``; with
``concat_cls_token`` the CLS vector is broadcast over the map and
concatenated to every patch feature, as DINOv2's linear evaluation does.
"""
from typing import Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.registry import MODELS
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from torch import Tensor

from veca_mm.utils.checks import check_bool, check_int, check_number

from .depth_head import VECADepthHead, check_head_args

FeatureInput = Union[Tensor, Tuple[Tensor, Tensor]]


def _probe_features(head, inputs: Sequence[FeatureInput]) -> Tensor:
    """The selected backbone output as a map, the CLS token concatenated."""
    x = inputs[head.in_index]
    cls = None
    if isinstance(x, (tuple, list)):
        if len(x) != 2:
            raise ValueError(f'{type(head).__name__}: expected a map or a '
                             f'(map, cls) pair, got {len(x)} tensors.')
        x, cls = x
    if head.concat_cls_token:
        if cls is None:
            raise ValueError(
                f'{type(head).__name__}(concat_cls_token=True) got no CLS '
                'token: set output_cls_token=True on the backbone, or '
                'concat_cls_token=False on the head.')
        x = torch.cat((x, cls[:, :, None, None].expand_as(x)), dim=1)
    if x.shape[1] != head.channels:
        raise ValueError(
            f'{type(head).__name__}: the features have {x.shape[1]} channels '
            f'but in_channels={head.in_channels} gives {head.channels}'
            f'{" (with the CLS token)" if head.concat_cls_token else ""}: set '
            'in_channels to the backbone width (the projection width with '
            'distill_proj=True).')
    return x


def _check_single_input(name, in_channels, kwargs, concat_cls_token,
                        in_index, dropout_ratio, norm_cfg):
    if not isinstance(in_channels, int) or isinstance(in_channels, bool):
        raise TypeError(f'{name}: in_channels must be one int (the width of '
                        f'the backbone\'s last map), got {in_channels!r}.')
    check_int('in_channels', in_channels, lo=1, owner=name)
    check_bool('concat_cls_token', concat_cls_token, owner=name)
    check_int('in_index', in_index, owner=name)
    check_head_args(name, None, dropout_ratio, norm_cfg, **kwargs)
    for key in ('channels', 'input_transform'):
        if key in kwargs:
            raise ValueError(
                f'{name} sets {key} itself (in_channels, doubled with the '
                f'CLS token; one input): remove {key}={kwargs[key]!r}.')


def _probe_channels(name, in_channels, concat_cls_token, norm_cfg) -> int:
    """The probe's width (doubled with the CLS token); it needs a norm."""
    if norm_cfg is None:
        raise ValueError(f'{name}: norm_cfg=None; the probe is BatchNorm + '
                         '1x1 conv, give a BN/SyncBN cfg.')
    return in_channels * (2 if concat_cls_token else 1)


@MODELS.register_module()
class LinearProbeHead(BaseDecodeHead):
    """BatchNorm + 1x1 conv over the last layer's patch features.

    DINOv2's linear segmentation probe: the (optionally CLS-concatenated)
    features go through a BatchNorm and a 1x1 conv to the classes; the
    logits (stride = patch size) are upsampled bilinearly to the label size
    for the loss and to the input size for prediction, by mmseg's
    ``BaseDecodeHead.loss_by_feat`` / ``predict_by_feat``.

    Args:
        in_channels (int): Width of the backbone's map (with
            ``distill_proj=True``, the projection width: 768 for the
            released VECA-S/B/L).
        num_classes (int): Number of classes.
        concat_cls_token (bool): Concatenate the CLS token (the backbone
            must return it). Defaults to True.
        in_index (int): Which backbone output to read. Defaults to -1 (the
            last).
        norm_cfg (dict): The BatchNorm (``SyncBN`` on several GPUs).
            Defaults to dict(type='BN', requires_grad=True).
        dropout_ratio (float): Dropout before the classifier, in [0, 1).
            Defaults to 0.0.
        **kwargs: The rest of ``BaseDecodeHead`` (``loss_decode``,
            ``ignore_index``, ``align_corners``, ...).
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 concat_cls_token: bool = True,
                 in_index: int = -1,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 dropout_ratio: float = 0.0,
                 **kwargs):
        _check_single_input(type(self).__name__, in_channels, kwargs,
                            concat_cls_token, in_index, dropout_ratio,
                            norm_cfg)
        check_int('num_classes', num_classes, lo=1, owner='LinearProbeHead')
        channels = _probe_channels('LinearProbeHead', in_channels,
                                   concat_cls_token, norm_cfg)
        super().__init__(in_channels=in_channels, channels=channels,
                         num_classes=num_classes, in_index=in_index,
                         norm_cfg=norm_cfg, dropout_ratio=dropout_ratio,
                         **kwargs)
        self.concat_cls_token = concat_cls_token
        self.bn = build_norm_layer(norm_cfg, channels)[1]

    def forward(self, inputs: Sequence[FeatureInput]) -> Tensor:
        return self.cls_seg(self.bn(_probe_features(self, inputs)))


@MODELS.register_module()
class LinearDepthProbeHead(BaseDecodeHead):
    """DINOv2's linear depth probe ("lin. 1"): classification into bins.

    The last layer's features, the CLS token concatenated, are upsampled
    bilinearly by ``upsample`` (4), normalised by a BatchNorm and mapped by
    a 1x1 conv to ``n_bins`` (256) scores per pixel; the scores are made a
    distribution by linear normalisation (``relu(s) + 0.1``, divided by
    their sum, as AdaBins) and the depth is their expectation over bin
    centres uniformly spaced in ``[min_depth, max_depth]``. So the only
    learnt maps are the BatchNorm's affine and the 1x1 conv: a linear
    probe, bounded in ``[min_depth, max_depth]``.

    Trained with :class:`MaskedSiLogLoss` (valid ``min_depth < gt <=
    max_depth`` only), evaluated by ``VECADepthMetric``; DINOv2 adds a
    gradient loss, which we leave out (see ``docs/linear_probe.md``).

    Args:
        in_channels (int): Width of the backbone's map.
        concat_cls_token (bool): Concatenate the CLS token. Defaults to True.
        n_bins (int): Number of depth bins, at least 2. Defaults to 256.
        min_depth (float): Lower end of the bins' range (metres).
            Defaults to 1e-3.
        max_depth (float): Upper end of the bins' range (metres).
            Defaults to 10.0.
        upsample (int): Feature upsampling factor before the classifier.
            Defaults to 4.
        in_index (int): Which backbone output to read. Defaults to -1.
        norm_cfg (dict): The BatchNorm.
            Defaults to dict(type='BN', requires_grad=True).
        dropout_ratio (float): Dropout before the classifier, in [0, 1).
            Defaults to 0.0.
        loss_decode (dict | list[dict]): A loss with ``max_depth=None`` gets
            the head's. Defaults to dict(type='MaskedSiLogLoss').
        **kwargs: The rest of ``BaseDecodeHead``.
    """

    def __init__(self,
                 in_channels: int,
                 concat_cls_token: bool = True,
                 n_bins: int = 256,
                 min_depth: float = 1e-3,
                 max_depth: float = 10.0,
                 upsample: int = 4,
                 in_index: int = -1,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 dropout_ratio: float = 0.0,
                 loss_decode=dict(type='MaskedSiLogLoss'),
                 **kwargs):
        _check_single_input(type(self).__name__, in_channels, kwargs,
                            concat_cls_token, in_index, dropout_ratio,
                            norm_cfg)
        owner = 'LinearDepthProbeHead'
        check_number('min_depth', min_depth, lo=0, owner=owner)
        check_number('max_depth', max_depth, owner=owner)
        check_int('n_bins', n_bins, lo=2, owner=owner)
        check_int('upsample', upsample, lo=1, owner=owner)
        for key in ('num_classes', 'out_channels'):
            if key in kwargs:
                raise ValueError(f'LinearDepthProbeHead: {key} is n_bins; '
                                 f'remove {key}={kwargs[key]!r}.')
        if not 0 <= min_depth < max_depth:
            raise ValueError(f'need 0 <= min_depth < max_depth, got '
                             f'{min_depth}, {max_depth}')
        if n_bins < 2 or upsample < 1:
            raise ValueError(f'n_bins={n_bins} must be >= 2 and '
                             f'upsample={upsample} >= 1.')
        channels = _probe_channels('LinearDepthProbeHead', in_channels,
                                   concat_cls_token, norm_cfg)
        super().__init__(in_channels=in_channels, channels=channels,
                         num_classes=n_bins, in_index=in_index,
                         norm_cfg=norm_cfg, dropout_ratio=dropout_ratio,
                         loss_decode=loss_decode, **kwargs)
        self.concat_cls_token = concat_cls_token
        self.upsample = int(upsample)
        self.min_depth = float(min_depth)
        self.max_depth = float(max_depth)
        self.bn = build_norm_layer(norm_cfg, channels)[1]
        self.register_buffer(
            'bin_centers', torch.linspace(self.min_depth, self.max_depth,
                                          n_bins), persistent=False)
        losses = self.loss_decode if isinstance(
            self.loss_decode, torch.nn.ModuleList) else [self.loss_decode]
        for loss in losses:
            if getattr(loss, 'max_depth', False) is None:
                loss.max_depth = self.max_depth

    def forward(self, inputs: Sequence[FeatureInput]) -> Tensor:
        x = _probe_features(self, inputs)
        if self.upsample > 1:
            x = F.interpolate(x, scale_factor=self.upsample, mode='bilinear',
                              align_corners=self.align_corners)
        scores = torch.relu(self.cls_seg(self.bn(x))) + 0.1
        prob = scores / scores.sum(dim=1, keepdim=True)
        return torch.einsum('bkhw,k->bhw', prob,
                            self.bin_centers.to(prob.dtype)).unsqueeze(1)

    # Same ground truth and loss handling as the FPN depth head.
    _stack_batch_gt = VECADepthHead._stack_batch_gt
    loss_by_feat = VECADepthHead.loss_by_feat
