# Copyright (c) veca_mm contributors. Apache-2.0.
"""Drawing helpers shared by the mini ADE20K / Cityscapes generators.

Every class gets a base colour and a texture; an image is painted layer by
layer (``paint``) while the label map is filled with the same masks, so the
pixels and the labels can never disagree. Each layer gets its own brightness
and colour jitter, and the whole image gets pixel noise at the end, so the
task is not a plain colour lookup, but a small network learns it quickly.

Everything is driven by a ``numpy.random.Generator``: same seed, same bytes.
"""
import os
import os.path as osp

import cv2
import numpy as np

TEXTURES = ('flat', 'stripes_h', 'stripes_v', 'stripes_d', 'checker', 'grid',
            'dots', 'blobs')


def image_rng(seed, split, index):
    """An independent generator per (seed, split, image): adding training
    images never changes the validation images."""
    split_id = {'train': 0, 'val': 1}[split]
    return np.random.default_rng([int(seed), split_id, int(index)])


def jittered_size(rng, base, low=0.8, high=1.2, avoid=16):
    """An int in [low*base, high*base] that is not a multiple of ``avoid``
    (so the data preprocessor's padding is exercised)."""
    size = int(round(base * rng.uniform(low, high)))
    if avoid and size % avoid == 0:
        size += 1
    return max(size, 8)


def texture(kind, h, w, rng, period=None):
    """A (h, w) float32 pattern in about [-1, 1] with a random phase."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    period = float(period or rng.uniform(5.0, 9.0))
    phase = rng.uniform(0, 2 * np.pi)
    if kind == 'flat':
        return np.zeros((h, w), np.float32)
    if kind == 'stripes_h':
        return np.sin(2 * np.pi * yy / period + phase)
    if kind == 'stripes_v':
        return np.sin(2 * np.pi * xx / period + phase)
    if kind == 'stripes_d':
        return np.sin(2 * np.pi * (xx + yy) / (period * 1.41) + phase)
    if kind == 'checker':
        ox, oy = rng.integers(0, int(period) * 2, size=2)
        cells = ((xx + ox) // period + (yy + oy) // period) % 2
        return (cells * 2 - 1).astype(np.float32)
    if kind == 'grid':
        ox, oy = rng.integers(0, int(period) + 1, size=2)
        lines = (((xx + ox) % (period + 2)) < 2) | (((yy + oy) %
                                                     (period + 2)) < 2)
        return np.where(lines, -1.0, 0.4).astype(np.float32)
    if kind == 'dots':
        pattern = np.full((h, w), -0.3, np.float32)
        n = max(1, int(h * w / (period * period * 2)))
        ys = rng.integers(0, h, size=n)
        xs = rng.integers(0, w, size=n)
        pattern[ys, xs] = 1.0
        return cv2.dilate(pattern, np.ones((2, 2), np.uint8))
    if kind == 'blobs':
        small = rng.standard_normal((max(2, h // 6), max(2, w // 6)))
        big = cv2.resize(small.astype(np.float32), (w, h),
                         interpolation=cv2.INTER_CUBIC)
        return np.clip(big, -1.5, 1.5) / 1.5
    raise ValueError(f'unknown texture {kind!r}')


def paint(img, mask, color, kind, rng, amplitude=0.25, color_jitter=12,
          brightness=(0.85, 1.15), period=None):
    """Paint ``mask`` of the float (h, w, 3) ``img`` with a jittered,
    textured version of ``color`` (RGB)."""
    h, w = mask.shape
    if not mask.any():
        return
    base = np.asarray(color, np.float32) + rng.uniform(
        -color_jitter, color_jitter, size=3)
    base = base * rng.uniform(*brightness)
    pattern = texture(kind, h, w, rng, period)[..., None]
    layer = base[None, None] * (1.0 + amplitude * pattern)
    img[mask] = layer[mask]


def finish(img, rng, noise_std=8.0, brightness=(0.9, 1.1)):
    """Global brightness jitter + pixel noise, to uint8 RGB."""
    img = img * rng.uniform(*brightness)
    img = img + rng.normal(0.0, noise_std, size=img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def rect_mask(h, w, x0, y0, x1, y1):
    mask = np.zeros((h, w), np.uint8)
    cv2.rectangle(mask, (int(x0), int(y0)), (int(x1), int(y1)), 1, -1)
    return mask.astype(bool)


def ellipse_mask(h, w, cx, cy, ax, ay, angle=0.0):
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (int(cx), int(cy)), (max(1, int(ax)), max(1, int(ay))),
                float(angle), 0, 360, 1, -1)
    return mask.astype(bool)


def poly_mask(h, w, points):
    mask = np.zeros((h, w), np.uint8)
    pts = np.round(np.asarray(points, np.float64)).astype(np.int32)
    cv2.fillPoly(mask, [pts.reshape(-1, 1, 2)], 1)
    return mask.astype(bool)


def ring(mask, width=1):
    """The ``width``-pixel band just outside ``mask``."""
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    grown = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)
    return grown & ~mask


def random_shape_mask(rng, h, w, min_frac=0.2, max_frac=0.55):
    """A rectangle, an ellipse or a triangle somewhere in an (h, w) image."""
    kind = rng.choice(['rect', 'ellipse', 'triangle'])
    sw = rng.uniform(min_frac, max_frac) * w
    sh = rng.uniform(min_frac, max_frac) * h
    cx = rng.uniform(0.1, 0.9) * w
    cy = rng.uniform(0.1, 0.9) * h
    if kind == 'rect':
        return rect_mask(h, w, cx - sw / 2, cy - sh / 2, cx + sw / 2,
                         cy + sh / 2)
    if kind == 'ellipse':
        return ellipse_mask(h, w, cx, cy, sw / 2, sh / 2,
                            rng.uniform(0, 180))
    pts = [(cx + rng.uniform(-0.6, 0.6) * sw, cy - sh / 2),
           (cx - sw / 2, cy + sh / 2), (cx + sw / 2, cy + sh / 2)]
    return poly_mask(h, w, pts)


def write_rgb(path, img, jpeg_quality=95):
    """Write an RGB uint8 image (JPEG or PNG by extension)."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    bgr = np.ascontiguousarray(img[..., ::-1])
    params = []
    if path.lower().endswith(('.jpg', '.jpeg')):
        params = [int(cv2.IMWRITE_JPEG_QUALITY), int(jpeg_quality)]
    if not cv2.imwrite(path, bgr, params):
        raise IOError(f'could not write {path}')


def write_label(path, label):
    """Write a single-channel uint8 label PNG."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    if not cv2.imwrite(path, np.ascontiguousarray(label.astype(np.uint8))):
        raise IOError(f'could not write {path}')


def read_label(path):
    label = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if label is None:
        raise IOError(f'could not read {path}')
    return label
