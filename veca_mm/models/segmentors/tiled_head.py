# Copyright (c) veca_mm contributors. Apache-2.0.
"""Whole-image inference with the backbone on the whole image and the neck
and decode head over tiles of the feature pyramid.

Why: at high resolution a plain-ViT model's memory goes to the head, not the
backbone (UPerNet's stride-4 maps at 512 channels: 4.3 GiB of VECA-B's
peak at 1024x2048, 12.5 GiB at 2048x4096). mmseg's ``slide`` mode bounds
that memory by cutting the *image* into windows, which throws away the
global context VECA's attention gives for little cost. Here the backbone
still sees the whole image once; only the local part, neck + head, runs per
tile, on crops of the backbone maps grown by a halo that covers the head's
reach (derived from its layers), and the tiles' cores are stitched. Global
operations of the head run once on the whole map. The result equals plain
whole inference (``tests/test_tiled_inference.py``).
"""
import math
from typing import List, Optional, Sequence, Tuple

import torch
from mmseg.models.segmentors import DepthEstimator, EncoderDecoder
from mmengine.registry import MODELS
from torch import Tensor

from .tiled_heads import TiledPyramid, tiled_head
from .tiling import split_axis

TILE_KEYS = ('head_tile', 'head_halo')


def _pixels_pair(value, key: str, allow_none: bool) -> Optional[Tuple]:
    """``test_cfg.head_tile`` / ``head_halo`` as an (h, w) pair of pixels."""
    if value is None and allow_none:
        return None
    pair = (value, value) if isinstance(value, int) else \
        tuple(value) if isinstance(value, (list, tuple)) else ()
    least = 1 if key == 'head_tile' else 0
    if len(pair) != 2 or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= least
            for v in pair):
        none = ' or None (derived from the head)' if allow_none else ''
        raise ValueError(
            f'test_cfg.{key} must be an int or an (h, w) pair of ints >= '
            f'{least} (input pixels){none}, got {value!r}.')
    return pair


class TiledHeadMixin:
    """Adds ``test_cfg=dict(mode='whole', head_tile=T, head_halo=None)`` to
    an mmseg segmentor: :meth:`encode_decode` runs the backbone on the whole
    image, then neck + decode head over tiles of at most ``T`` input pixels
    (an int or ``(h, w)``, rounded down to whole cells of the coarsest
    pyramid level), each grown by ``head_halo`` pixels (None: the head's
    reach, derived from its layers; a smaller value is an error). Without
    ``head_tile``, or with ``mode='slide'``, the segmentor is mmseg's.
    """

    def _check_head_tiling(self) -> None:
        """Validate test_cfg at build time (also builds the crop pieces)."""
        cfg = self.test_cfg or {}
        if cfg.get('head_tile') is None:
            if cfg.get('head_halo') is not None:
                raise ValueError('test_cfg.head_halo is set but head_tile is'
                                 ' not: set head_tile to tile the head.')
            return
        if cfg.get('mode', 'whole') != 'whole':
            raise ValueError(
                f"test_cfg.head_tile tiles the head of mode='whole' "
                f"inference; it does not combine with mode="
                f"{cfg.get('mode')!r}. Remove head_tile or set mode='whole'.")
        _pixels_pair(cfg['head_tile'], 'head_tile', False)
        _pixels_pair(cfg.get('head_halo'), 'head_halo', True)
        TiledPyramid(self.neck if self.with_neck else None)
        tiled_head(self.decode_head)

    def _head_tiling(self):
        """``(tile, halo)`` in input pixels when tiling applies, else None."""
        cfg = self.test_cfg or {}
        if cfg.get('head_tile') is None or cfg.get('mode', 'whole') != \
                'whole':
            return None
        return (_pixels_pair(cfg['head_tile'], 'head_tile', False),
                _pixels_pair(cfg.get('head_halo'), 'head_halo', True))

    def encode_decode(self, inputs: Tensor, batch_img_metas: List[dict]):
        tiling = self._head_tiling()
        if tiling is None:
            return super().encode_decode(inputs, batch_img_metas)
        feats = self._backbone_feats(inputs, batch_img_metas)
        logits = self.tiled_neck_head(feats, inputs.shape[-2:], *tiling)
        return self.decode_head.predict_by_feat(logits, batch_img_metas)

    def _backbone_feats(self, inputs, batch_img_metas):
        return self.backbone(inputs)

    def tiled_neck_head(self, feats: Sequence, input_hw, tile, halo=None,
                        check_halo: bool = True) -> Tensor:
        """Neck + decode head over tiles of the backbone maps ``feats``;
        returns what ``decode_head.forward`` returns on the whole pyramid.
        ``check_halo=False`` lets a too-small halo through (tests only)."""
        maps = [f[0] if isinstance(f, (tuple, list)) else f for f in feats]
        if len({tuple(m.shape[-2:]) for m in maps}) != 1:
            raise ValueError('tiled-head inference needs backbone maps of one'
                             ' size (a plain ViT such as VECA), got '
                             f'{[tuple(m.shape[-2:]) for m in maps]}.')
        pyr = TiledPyramid(self.neck if self.with_neck else None)
        pyr.check()
        head = tiled_head(self.decode_head)
        align = pyr.align(len(maps))
        full = tuple(maps[0].shape[-2:])
        stride = input_hw[0] / full[0]
        cells = [max(align, int(t / stride) // align * align) for t in tile]
        need = self.head_reach_cells(maps, pyr, head)
        want = [need if halo is None else halo[i] / stride for i in (0, 1)]
        if check_halo and min(want) < need:
            raise ValueError(
                f'test_cfg.head_halo={halo} input pixels is less than the '
                f'reach of this neck + head, {need * stride:g} pixels; use '
                'at least that, or None to derive it.')
        halos = [-(-math.ceil(w) // align) * align for w in want]
        if full[0] <= cells[0] and full[1] <= cells[1]:
            return self.decode_head.forward(
                self.neck(feats) if self.with_neck else feats)
        ctx = head.context(lambda i: pyr.whole_level(maps, i))
        out = None
        for r in split_axis(full[0], cells[0], halos[0], align):
            for c in split_axis(full[1], cells[1], halos[1], align):
                res = head.forward(pyr.crops(maps, r[2:], c[2:]), ctx)
                if out is None:
                    out = res.data.new_empty(
                        res.data.shape[:2] + res.win.full)
                _paste(out, res, r[:2], c[:2])
        return out

    @staticmethod
    def head_reach_cells(maps, pyr: TiledPyramid, head) -> float:
        """How far (in backbone cells) a cut spoils the head's output: the
        margin of one tiny crop cut on every side, on zero maps."""
        a = pyr.align(len(maps))
        fake = [m.new_zeros(m.shape[:2] + (3 * a, 3 * a)) for m in maps]
        ctx = head.context(lambda i: pyr.whole_level(fake, i))
        return head.forward(pyr.crops(fake, (a, 2 * a), (a, 2 * a)),
                            ctx).margin


def _paste(out: Tensor, res, rows, cols) -> None:
    """Copy the core (cells ``rows`` x ``cols``) of a tile's output."""
    win = res.win
    (y0, y1), (x0, x1) = (_cells_to_pixels(rows, win.pixel, win.full[0]),
                          _cells_to_pixels(cols, win.pixel, win.full[1]))
    out[..., y0:y1, x0:x1] = res.data[..., y0 - win.top:y1 - win.top,
                                      x0 - win.left:x1 - win.left]


def _cells_to_pixels(span, pixel: float, full: int):
    if pixel <= 1:
        f = int(round(1 / pixel))
        return span[0] * f, min(span[1] * f, full)
    k = int(round(pixel))
    return span[0] // k, min(span[1] // k, full)


@MODELS.register_module()
class TiledHeadEncoderDecoder(TiledHeadMixin, EncoderDecoder):
    """mmseg's ``EncoderDecoder`` with tiled-head whole inference.

    ``test_cfg=dict(mode='whole', head_tile=1024)``: the backbone runs on
    the whole image, neck + decode head over tiles of 1024x1024 input pixels
    of its feature maps (plus the head's reach), with the same result as
    plain whole inference and the head's memory bounded by the tile.

    Args:
        test_cfg (dict): mmseg's, plus ``head_tile`` (int | tuple[int, int]:
            tile size in input pixels; None: plain mmseg inference) and
            ``head_halo`` (int | tuple[int, int], optional: the halo in
            input pixels; None derives it from the head). Default: None.
        **kwargs: the rest of ``EncoderDecoder``'s arguments.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._check_head_tiling()


@MODELS.register_module()
class TiledHeadDepthEstimator(TiledHeadMixin, DepthEstimator):
    """mmseg's ``DepthEstimator`` with tiled-head whole inference (see
    :class:`TiledHeadEncoderDecoder`; e.g. with :class:`VECADepthHead`).

    Args:
        test_cfg (dict): mmseg's, plus ``head_tile`` and ``head_halo`` as
            in :class:`TiledHeadEncoderDecoder`. Default: None.
        **kwargs: the rest of ``DepthEstimator``'s arguments.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._check_head_tiling()

    def _backbone_feats(self, inputs, batch_img_metas):
        if getattr(self.backbone, 'class_embed_select', False):
            raise ValueError('tiled-head inference does not support a '
                             'backbone with class_embed_select (VPD).')
        return self.backbone(inputs)
