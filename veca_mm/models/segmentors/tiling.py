# Copyright (c) veca_mm contributors. Apache-2.0.
"""Geometry of tiled-head inference: crops of feature maps that know where
they sit in the whole map, and the operations a head applies to them.

Why our own bilinear resize: a head resizes one pyramid level to another
(``F.interpolate(x, size=other.shape)``). On a crop that maps the crop's
corners onto each other, which equals the whole-map resize only when the two
levels differ by an integer factor and the crop is aligned to it; a stride-32
level of an odd stride-16 map (``floor(h / 2)`` rows) does not. Here every
output pixel is interpolated from its *global* source coordinate (PyTorch's
own formula, in float32 as its CPU kernel computes it), so a crop gets the
values of the whole-map resize.

Distances are in **cells**, pixels of the backbone map (stride ``P``, the
patch size). ``Crop.margin`` bounds how far from a cut edge (an edge of the
crop inside the image) the values may differ from the whole-map computation;
every operation below grows it by its reach, so the halo a head needs comes
out of its own layers (kernel sizes, dilations, resizes), not from a table.
"""
from dataclasses import dataclass, replace
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

# Layers that mix a pixel with the whole map: a crop cannot reproduce them.
_GLOBAL_NORMS = (nn.GroupNorm, nn.InstanceNorm1d, nn.InstanceNorm2d,
                 nn.InstanceNorm3d)
_POOLS = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.AvgPool2d,
          nn.MaxPool2d)


@dataclass(frozen=True)
class Window:
    """Rows ``[top, top + height)`` and columns ``[left, left + width)`` of
    a level whose whole map is ``full`` (h, w); one of its pixels is
    ``pixel`` cells wide."""
    top: int
    left: int
    height: int
    width: int
    full: Tuple[int, int]
    pixel: float

    @property
    def cut(self) -> Tuple[bool, bool, bool, bool]:
        """Which edges (top, bottom, left, right) lie inside the image."""
        return (self.top > 0, self.top + self.height < self.full[0],
                self.left > 0, self.left + self.width < self.full[1])

    def scaled(self, factor: int) -> 'Window':
        """The window of this level upsampled by an integer ``factor``."""
        return Window(self.top * factor, self.left * factor,
                      self.height * factor, self.width * factor,
                      (self.full[0] * factor, self.full[1] * factor),
                      self.pixel / factor)


@dataclass(frozen=True)
class Crop:
    """A crop ``data`` (N, C, h, w) of a level at ``win``, exact except
    within ``margin`` cells of a cut edge."""
    data: Tensor
    win: Window
    margin: float = 0.0

    def __post_init__(self):
        shape = tuple(self.data.shape[-2:])
        if shape != (self.win.height, self.win.width):
            raise RuntimeError(
                f'tiled inference: a map of {shape[0]}x{shape[1]} does not '
                f'fill its window {self.win.height}x{self.win.width}; the '
                'layer producing it changes the map size, which the tiling '
                'does not model.')

    def new(self, data: Tensor, grow: float = 0.0) -> 'Crop':
        return replace(self, data=data, margin=self.margin + grow)

    @classmethod
    def whole(cls, data: Tensor, pixel: float = 0.0) -> 'Crop':
        h, w = data.shape[-2:]
        return cls(data, Window(0, 0, h, w, (h, w), pixel))


def check_local(module: nn.Module, where: str, pools: bool = False) -> None:
    """Refuse a layer whose output at a pixel depends on the whole map
    (``pools``: allow pooling, which the caller aligns itself)."""
    banned = _GLOBAL_NORMS if pools else _GLOBAL_NORMS + _POOLS
    for name, m in module.named_modules():
        bad = isinstance(m, banned) or (
            isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training)
        if bad:
            raise ValueError(
                f'tiled-head inference: {where}.{name} ({type(m).__name__}) '
                'mixes every pixel of the map (a global norm, pooling or a '
                'BatchNorm in train mode), so tiles cannot reproduce it. Use '
                'BN/SyncBN/LN2d in eval mode, or leave test_cfg.head_tile '
                'unset for plain whole inference.')


def reach(module: nn.Module, where: str) -> int:
    """How many pixels a chain of 'same'-padded convs looks beyond a pixel
    (the sum of ``dilation * (k - 1) / 2``); other convs are refused."""
    check_local(module, where)
    total = 0
    for name, m in module.named_modules():
        if isinstance(m, nn.ConvTranspose2d) or (
                isinstance(m, nn.Conv2d) and not _same_conv(m)):
            raise ValueError(
                f'tiled-head inference: {where}.{name} is a strided, '
                'transposed or not "same"-padded conv; the tiling models '
                'size-preserving convs only.')
        if isinstance(m, nn.Conv2d):
            total += max(d * (k - 1) // 2
                         for k, d in zip(m.kernel_size, m.dilation))
    return total


def _same_conv(m: nn.Conv2d) -> bool:
    if m.stride != (1, 1) or isinstance(m.padding, str):
        return m.stride == (1, 1) and m.padding == 'same'
    return all(p == d * (k - 1) // 2 and k % 2 == 1 for p, d, k in zip(
        m.padding, m.dilation, m.kernel_size))


def apply(module: nn.Module, crop: Crop, where: str) -> Crop:
    """``module`` (size-preserving, local) on a crop; its margin grows by
    the module's reach."""
    grow = reach(module, where) * crop.win.pixel
    return crop.new(module(crop.data), grow)


def cat(crops: Sequence[Crop]) -> Crop:
    """Channel concatenation of crops of one window."""
    wins = {c.win for c in crops}
    if len(wins) != 1:
        raise RuntimeError(f'tiled inference: concatenating crops of '
                           f'different windows {wins}')
    return Crop(torch.cat([c.data for c in crops], dim=1), crops[0].win,
                max(c.margin for c in crops))


def add(a: Crop, b: Crop) -> Crop:
    if a.win != b.win:
        raise RuntimeError(f'tiled inference: adding crops of windows '
                           f'{a.win} and {b.win}')
    return Crop(a.data + b.data, a.win, max(a.margin, b.margin))


def _axis(dst0: int, n: int, dst_full: int, src0: int, m: int,
          src_full: int, align_corners: bool, device):
    """Source indices (local to the crop) and weights of ``n`` output rows
    starting at global row ``dst0``: PyTorch's ``upsample_bilinear2d``."""
    f32 = torch.float32
    i = torch.arange(dst0, dst0 + n, dtype=f32, device=device)
    if align_corners:
        scale = torch.tensor((src_full - 1) / (dst_full - 1)
                             if dst_full > 1 else 0., dtype=f32)
        src = i * scale
    else:
        scale = torch.tensor(src_full, dtype=f32) / dst_full
        src = ((i + 0.5) * scale - 0.5).clamp(min=0)
    i0 = src.floor().long().clamp(max=src_full - 1)
    lam = (src - i0.to(f32)).clamp(0, 1)
    i1 = torch.where(i0 < src_full - 1, i0 + 1, i0)
    # rows outside the crop are clamped: wrong, but inside the margin
    i0 = (i0 - src0).clamp(0, m - 1)
    i1 = (i1 - src0).clamp(0, m - 1)
    return i0, i1, lam


def resize_to(src: Crop, win: Window, align_corners: bool) -> Crop:
    """Bilinear resize of ``src`` onto ``win`` in global coordinates: the
    values ``F.interpolate`` gives on the whole map, except near cuts."""
    x, s = src.data, src.win
    if s == win:
        return src
    r = win.full[0] // max(s.full[0], 1)
    if not align_corners and r >= 1 and win == s.scaled(r):
        # an integer factor on an aligned crop: F.interpolate computes the
        # whole map's source coordinates (the same scale, offset top * r)
        x = F.interpolate(x, size=(win.height, win.width), mode='bilinear',
                          align_corners=False)
    else:
        x = _gather_resize(x, s, win, align_corners)
    # An output pixel reads the two source pixels around its sample point,
    # which sits within ``dev`` cells of its centre: floor-sized (pooled)
    # levels make the whole-map ratio inexact by up to ``pixel - 1`` cells,
    # align_corners by up to a source pixel. So the pixel is exact once its
    # near edge is 1.5 source pixels - half its own + dev beyond the
    # source's margin. A whole source (no cut) spoils nothing.
    dev = _slack(s) + _slack(win) + (s.pixel if align_corners else 0.0)
    margin = 0.0 if not any(s.cut) else src.margin + max(
        0.0, 1.5 * s.pixel - 0.5 * win.pixel + dev)
    return Crop(x, win, margin)


def _slack(win: Window) -> float:
    """Cells a floor-sized (pooled) level may lose at the image's end."""
    return max(0.0, win.pixel - 1.0) if win.pixel >= 1 else 0.0


def _gather_resize(x: Tensor, s: Window, win: Window,
                   align_corners: bool) -> Tensor:
    h0, h1, hl = _axis(win.top, win.height, win.full[0], s.top, s.height,
                       s.full[0], align_corners, x.device)
    w0, w1, wl = _axis(win.left, win.width, win.full[1], s.left, s.width,
                       s.full[1], align_corners, x.device)
    x = torch.lerp(x.index_select(2, h0), x.index_select(2, h1),
                   hl.to(x.dtype)[:, None])
    return torch.lerp(x.index_select(3, w0), x.index_select(3, w1),
                      wl.to(x.dtype))


def split_axis(length: int, tile: int, halo: int,
               align: int) -> List[Tuple[int, int, int, int]]:
    """Cut ``[0, length)`` cells into balanced cores of at most ``tile``
    cells, each grown by ``halo``: ``(core0, core1, crop0, crop1)``. Every
    core and crop boundary inside the axis is a multiple of ``align``."""
    n = -(-length // tile)
    step = -(-length // n)
    step = -(-step // align) * align
    out = []
    for c0 in range(0, length, step):
        c1 = min(c0 + step, length)
        out.append((c0, c1, max(0, c0 - halo), min(length, c1 + halo)))
    return out
