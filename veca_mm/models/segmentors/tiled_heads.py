# Copyright (c) veca_mm contributors. Apache-2.0.
"""The neck and the decode heads, run on crops of the feature pyramid.

Each head's forward is restated on :class:`~.tiling.Crop` objects with the
head's own layers (no copy of a weight, no change to the head): convs go
through :func:`~.tiling.apply`, level-to-level resizes through
:func:`~.tiling.resize_to` (global coordinates), and the head's **global**
operations, UPerHead's pyramid pooling and ASPP's image pooling, run once on
the whole level in :meth:`TiledHead.context` and are only resampled per
tile. Heads are matched by exact type: a subclass may change ``forward``,
so it is refused rather than silently tiled wrong. The equality tests
(``tests/test_tiled_inference.py``) hold each restatement to its head.
"""
from typing import Callable, List, Sequence

import torch
from mmseg.models.decode_heads import (ASPPHead, FCNHead, FPNHead,
                                       SegformerHead, UPerHead)
from mmseg.models.utils import Upsample
from torch import Tensor

from ..heads.depth_head import VECADepthHead
from ..necks.pyramid_neck import SimplePyramidNeck
from .tiling import Crop, Window, add, apply, cat, check_local, reach, \
    resize_to

WholeLevel = Callable[[int], Tensor]


class TiledPyramid:
    """The neck on crops of the backbone maps (stride-``P`` maps of one
    size): :class:`SimplePyramidNeck`, or no neck (the maps are the
    levels).

    Args:
        neck (nn.Module | None): the segmentor's neck.
    """

    def __init__(self, neck):
        if neck is not None and type(neck) is not SimplePyramidNeck:
            raise ValueError(
                f'tiled-head inference supports SimplePyramidNeck or no neck,'
                f' not {type(neck).__name__}: leave test_cfg.head_tile unset '
                'for plain whole inference with this neck.')
        self.neck = neck

    def check(self) -> None:
        """At inference (eval mode): no layer mixes the whole map."""
        if self.neck is not None:
            check_local(self.neck, 'neck', pools=True)

    def pixels(self, num_maps: int) -> List[float]:
        """The pixel size of each level, in cells."""
        if self.neck is None:
            return [1.0] * num_maps
        return [1.0 / s for s in self.neck.scale_factors]

    def align(self, num_maps: int) -> int:
        """Crops start on multiples of the coarsest pooling window, so a
        pooled crop lies on the whole map's pooling grid."""
        return max([1] + [int(round(p)) for p in self.pixels(num_maps)])

    def crops(self, maps: Sequence[Tensor], rows, cols) -> List[Crop]:
        """Every level of the cells ``rows`` x ``cols`` (``(start, end)``)."""
        (r0, r1), (c0, c1) = rows, cols
        full = tuple(maps[0].shape[-2:])
        sub = [m[..., r0:r1, c0:c1] for m in maps]
        outs = sub if self.neck is None else self.neck(sub)
        pixels = self.pixels(len(maps))
        crops = []
        for i, (x, p) in enumerate(zip(outs, pixels)):
            margin = 0.0 if self.neck is None else reach(
                self.neck.out_convs[i], f'neck.out_convs.{i}') * p
            crops.append(Crop(x, _level_window(p, r0, r1, c0, c1, full),
                              margin))
        return crops

    def whole_level(self, maps: Sequence[Tensor], i: int) -> Tensor:
        """Level ``i`` of the whole image (for a head's global pooling)."""
        if self.neck is None:
            return maps[i]
        x = maps[i] if len(maps) > 1 else maps[0]
        return self.neck.out_convs[i](self.neck.resample[i](x))


def _level_window(p: float, r0, r1, c0, c1, full) -> Window:
    if p <= 1:
        f = int(round(1 / p))
        return Window(r0 * f, c0 * f, (r1 - r0) * f, (c1 - c0) * f,
                      (full[0] * f, full[1] * f), p)
    k = int(round(p))
    return Window(r0 // k, c0 // k, r1 // k - r0 // k, c1 // k - c0 // k,
                  (full[0] // k, full[1] // k), p)


class TiledHead:
    """A decode head on crops: ``forward(levels, context)`` -> output crop.

    Args:
        head (BaseDecodeHead): the head whose layers run.
    """

    def __init__(self, head):
        self.head = head

    def context(self, whole: WholeLevel):
        """What the head computes once on the whole image (None: nothing)."""
        return None

    def forward(self, levels: List[Crop], context) -> Crop:
        raise NotImplementedError

    def select(self, levels: List[Crop]):
        """``BaseDecodeHead._transform_inputs`` on crops."""
        h = self.head
        if h.input_transform == 'multiple_select':
            return [levels[i] for i in h.in_index]
        if h.input_transform == 'resize_concat':
            sel = [levels[i] for i in h.in_index]
            return cat([resize_to(c, sel[0].win, h.align_corners)
                        for c in sel])
        return levels[h.in_index]

    def run(self, module, crop: Crop, name: str) -> Crop:
        return apply(module, crop, f'decode_head.{name}')

    def resize(self, crop: Crop, win: Window) -> Crop:
        return resize_to(crop, win, self.head.align_corners)

    def cls_seg(self, crop: Crop) -> Crop:
        reach(self.head.conv_seg, 'decode_head.conv_seg')  # a 1x1 conv
        return crop.new(self.head.cls_seg(crop.data))


class UPerHeadTiles(TiledHead):
    """UPerHead: pyramid pooling once on the whole coarsest level; laterals,
    top-down path, FPN convs and fusion per tile."""

    def context(self, whole: WholeLevel):
        x = whole(self.head.in_index[-1])
        return [ppm(x) for ppm in self.head.psp_modules]

    def forward(self, levels, context):
        h = self.head
        inputs = self.select(levels)
        last = inputs[-1]
        pooled = [self.resize(Crop.whole(p), last.win) for p in context]
        lats = [self.run(conv, x, f'lateral_convs.{i}')
                for i, (conv, x) in enumerate(zip(h.lateral_convs, inputs))]
        lats.append(self.run(h.bottleneck, cat([last] + pooled),
                             'bottleneck'))
        for i in range(len(lats) - 1, 0, -1):
            lats[i - 1] = add(lats[i - 1],
                              self.resize(lats[i], lats[i - 1].win))
        outs = [self.run(h.fpn_convs[i], lats[i], f'fpn_convs.{i}')
                for i in range(len(lats) - 1)] + [lats[-1]]
        outs = [outs[0]] + [self.resize(o, outs[0].win) for o in outs[1:]]
        return self.cls_seg(self.run(h.fpn_bottleneck, cat(outs),
                                     'fpn_bottleneck'))


class SegformerHeadTiles(TiledHead):
    """SegformerHead: per-level 1x1 convs, resize to the finest, fuse."""

    def forward(self, levels, context):
        h = self.head
        if h.interpolate_mode != 'bilinear':
            raise ValueError(
                'tiled-head inference: SegformerHead(interpolate_mode='
                f'{h.interpolate_mode!r}) is not supported; use bilinear.')
        inputs = self.select(levels)
        outs = [self.resize(self.run(conv, x, f'convs.{i}'), inputs[0].win)
                for i, (conv, x) in enumerate(zip(h.convs, inputs))]
        return self.cls_seg(self.run(h.fusion_conv, cat(outs),
                                     'fusion_conv'))


class FCNHeadTiles(TiledHead):
    """FCNHead: its (dilated) conv stack and the optional input concat."""

    def forward(self, levels, context):
        h = self.head
        x = self.select(levels)
        feats = self.run(h.convs, x, 'convs')
        if h.concat_input:
            feats = self.run(h.conv_cat, cat([x, feats]), 'conv_cat')
        return self.cls_seg(feats)


class FPNHeadTiles(TiledHead):
    """FPNHead (Semantic FPN): conv + x2 upsampling chains, summed."""

    def scale_head(self, i: int, crop: Crop) -> Crop:
        for j, m in enumerate(self.head.scale_heads[i]):
            if isinstance(m, Upsample):
                f = m.scale_factor
                if m.size or m.mode != 'bilinear' or f != int(f):
                    raise ValueError(
                        'tiled-head inference: FPNHead upsampling must be '
                        f'bilinear by an integer factor, got {m}.')
                crop = resize_to(crop, crop.win.scaled(int(f)),
                                 m.align_corners)
            else:
                crop = self.run(m, crop, f'scale_heads.{i}.{j}')
        return crop

    def forward(self, levels, context):
        x = self.select(levels)
        out = self.scale_head(0, x[0])
        for i in range(1, len(x)):
            out = add(out, self.resize(self.scale_head(i, x[i]), out.win))
        return self.cls_seg(out)


class ASPPHeadTiles(TiledHead):
    """ASPPHead: image pooling once on the whole level, atrous branches
    and bottleneck per tile."""

    def context(self, whole: WholeLevel):
        if self.head.input_transform is not None:
            raise ValueError('tiled-head inference: ASPPHead with '
                             'input_transform is not supported.')
        return self.head.image_pool(whole(self.head.in_index))

    def forward(self, levels, context):
        h = self.head
        x = self.select(levels)
        outs = [self.resize(Crop.whole(context), x.win)] + [
            self.run(m, x, f'aspp_modules.{i}')
            for i, m in enumerate(h.aspp_modules)]
        return self.cls_seg(self.run(h.bottleneck, cat(outs), 'bottleneck'))


class VECADepthHeadTiles(TiledHead):
    """VECADepthHead: FPN fusion, x2 upsampling, refinement, bounded
    depth."""

    def forward(self, levels, context):
        h = self.head
        feats = self.select(levels)
        lats = [self.run(c, x, f'lateral_convs.{i}')
                for i, (c, x) in enumerate(zip(h.lateral_convs, feats))]
        for i in range(len(lats) - 1, 0, -1):
            lats[i - 1] = add(lats[i - 1],
                              self.resize(lats[i], lats[i - 1].win))
        outs = [self.run(c, x, f'fpn_convs.{i}')
                for i, (c, x) in enumerate(zip(h.fpn_convs, lats))]
        outs = [outs[0]] + [self.resize(o, outs[0].win) for o in outs[1:]]
        x = self.run(h.fuse_conv, cat(outs), 'fuse_conv')
        x = self.run(h.refine_conv, self.resize(x, x.win.scaled(2)),
                     'refine_conv')
        x = self.cls_seg(x)
        return x.new(torch.sigmoid(x.data) * h.max_depth)


TILED_HEADS = {
    UPerHead: UPerHeadTiles,
    SegformerHead: SegformerHeadTiles,
    FCNHead: FCNHeadTiles,
    FPNHead: FPNHeadTiles,
    ASPPHead: ASPPHeadTiles,
    VECADepthHead: VECADepthHeadTiles,
}


def tiled_head(head) -> TiledHead:
    """The crop version of ``head``; a clear error for a head without one."""
    cls = TILED_HEADS.get(type(head))
    if cls is None:
        names = ', '.join(sorted(k.__name__ for k in TILED_HEADS))
        raise ValueError(
            f'tiled-head inference has no crop version of '
            f'{type(head).__name__} (supported: {names}); leave '
            'test_cfg.head_tile unset for plain whole inference.')
    return cls(head)
