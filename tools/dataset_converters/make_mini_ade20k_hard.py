# Copyright (c) veca_mm contributors. Apache-2.0.
"""A harder synthetic ADE20K (real on-disk layout) for elasticity studies.

The plain mini ADE20K is solved at a core budget of 8 (a model fine-tuned at
one fixed budget keeps 99 % of its mIoU there), so it cannot show what nested
fine-tuning buys. This set is built so the core bank matters:

- 26 ADE20K classes; larger images (``--size`` 192: about 24 x 24 patches of
  8 px, four times the plain set's tokens);
- scenes of 2-3 background regions split by wavy boundaries (fine borders);
- small objects (3-8 px) and thin ones (1-3 px poles, railings, fences);
- **context classes**: three object appearances whose label depends on the
  scene (indoor: lamp / cabinet / rug, outdoor: streetlight / car / path).
  The scene is only told by the background classes, which can be far from
  the object, so a patch needs information routed through the cores.

    python tools/dataset_converters/make_mini_ade20k_hard.py OUT_DIR \
        [--num-train 80] [--num-val 20] [--size 192] [--seed 0]

writes ``OUT_DIR/ADEChallengeData2016/{images,annotations}/{training,
validation}/ADE_{train,val}_%08d.{jpg,png}`` (uint8 labels, ADE20K raw values:
0 = other/ignored, class ``c`` is ``ADE20KDataset`` class ``c - 1``), so
mmseg's ``ADE20KDataset`` and ``IoUMetric`` read it unchanged. Deterministic
from ``--seed``; adding training images never changes validation images.
"""
import functools

import numpy as np

from veca_mm.utils import mini_data as common

# raw ADE20K label value: (name, RGB colour, texture, texture amplitude)
INDOOR_BG = {
    1: ('wall', (205, 195, 170), 'stripes_h', 0.12),
    4: ('floor', (105, 105, 118), 'checker', 0.25),
    6: ('ceiling', (225, 225, 215), 'flat', 0.0),
}
OUTDOOR_BG = {
    3: ('sky', (130, 170, 225), 'blobs', 0.10),
    10: ('grass', (70, 150, 60), 'stripes_v', 0.30),
    7: ('road', (90, 85, 85), 'dots', 0.25),
    2: ('building', (160, 120, 100), 'grid', 0.25),
}
MEDIUM = {  # shapes of 8-25 % of the side, in any scene
    5: ('tree', (45, 110, 45), 'blobs', 0.35),
    8: ('bed', (185, 45, 60), 'stripes_d', 0.25),
    9: ('windowpane', (140, 195, 235), 'grid', 0.30),
    16: ('table', (110, 65, 30), 'stripes_v', 0.30),
    23: ('painting', (200, 150, 40), 'checker', 0.35),
}
SMALL = {  # 3-8 px objects
    13: ('person', (230, 160, 110), 'flat', 0.0),
    67: ('flower', (235, 60, 180), 'flat', 0.0),
    68: ('book', (40, 60, 170), 'flat', 0.0),
    42: ('box', (170, 140, 90), 'flat', 0.0),
    44: ('signboard', (250, 240, 60), 'flat', 0.0),
}
THIN = {  # 1-3 px wide lines
    94: ('pole', (60, 60, 60), 'flat', 0.0),
    39: ('railing', (200, 200, 200), 'flat', 0.0),
    33: ('fence', (150, 100, 60), 'flat', 0.0),
}
# Same appearance, label set by the scene: (indoor id, outdoor id, look).
CONTEXT = (
    ((37, 'lamp'), (88, 'streetlight'), ((245, 210, 120), 'stripes_h', 0.3)),
    ((11, 'cabinet'), (21, 'car'), ((80, 140, 150), 'checker', 0.3)),
    ((29, 'rug'), (53, 'path'), ((180, 110, 150), 'dots', 0.3)),
)
CLASSES = {**INDOOR_BG, **OUTDOOR_BG, **MEDIUM, **SMALL, **THIN}
for (_i, _in), (_o, _out), _ in CONTEXT:
    CLASSES[_i] = (_in, )
    CLASSES[_o] = (_out, )


def wavy_regions(rng, h, w, n):
    """``n`` background regions split by wavy, roughly horizontal or
    vertical boundaries; returns an int map in ``[0, n)``."""
    horizontal = rng.random() < 0.7
    length, across = (w, h) if horizontal else (h, w)
    t = np.arange(length, dtype=np.float32)
    cuts = np.sort(rng.uniform(0.25, 0.8, size=n - 1)) * across
    region = np.zeros((h, w), np.int64)
    grid = np.mgrid[0:h, 0:w][0 if horizontal else 1].astype(np.float32)
    for cut in cuts:
        wave = cut + sum(
            rng.uniform(1, 6) * np.sin(2 * np.pi * t / rng.uniform(10, 60) +
                                       rng.uniform(0, 2 * np.pi))
            for _ in range(2))
        line = wave[None, :] if horizontal else wave[:, None]
        region += (grid > line).astype(np.int64)
    return region


def thin_mask(rng, h, w, kind):
    """A pole (one line), a railing (two parallel lines) or a fence (a
    small lattice), 1-3 px wide."""
    import cv2
    mask = np.zeros((h, w), np.uint8)
    width = int(rng.integers(1, 4))
    x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
    length = rng.uniform(0.25, 0.7) * max(h, w)
    ang = rng.uniform(0, np.pi)
    dx, dy = np.cos(ang) * length, np.sin(ang) * length
    n = 1 if kind == 94 else 2 if kind == 39 else 4
    # the lines of a railing / fence are offset perpendicular to them
    px, py = -np.sin(ang) * 5, np.cos(ang) * 5
    for j in range(n):
        a = (int(x0 + j * px), int(y0 + j * py))
        b = (int(x0 + dx + j * px), int(y0 + dy + j * py))
        cv2.line(mask, a, b, 1, width)
    if kind == 33:  # fence posts across the rails
        for s in np.linspace(0, 1, 6):
            a = (int(x0 + s * dx), int(y0 + s * dy))
            b = (int(x0 + s * dx + 3 * px), int(y0 + s * dy + 3 * py))
            cv2.line(mask, a, b, 1, width)
    return mask.astype(bool)


def make_sample(rng, size):
    """One (RGB uint8 image, uint8 raw ADE label map) pair."""
    h = common.jittered_size(rng, size)
    w = common.jittered_size(rng, size)
    img = np.zeros((h, w, 3), np.float32)
    label = np.zeros((h, w), np.uint8)

    indoor = bool(rng.random() < 0.5)
    bgs = INDOOR_BG if indoor else OUTDOOR_BG
    ids = rng.choice(sorted(bgs), size=int(rng.integers(2, 4)),
                     replace=False)
    region = wavy_regions(rng, h, w, len(ids))
    for r, cls in enumerate(ids):
        _, color, kind, amp = bgs[int(cls)]
        mask = region == r
        common.paint(img, mask, color, kind, rng, amplitude=amp)
        label[mask] = cls

    def put(mask, cls, color, kind, amp):
        common.paint(img, mask, color, kind, rng, amplitude=amp)
        label[mask] = cls

    for _ in range(int(rng.integers(2, 5))):
        cls = int(rng.choice(sorted(MEDIUM)))
        _, color, kind, amp = MEDIUM[cls]
        mask = common.random_shape_mask(rng, h, w, 0.08, 0.25)
        put(mask, cls, color, kind, amp)
        if rng.random() < 0.3:  # unlabelled outline, as in ADE20K
            band = common.ring(mask, 1)
            img[band] = rng.uniform(40, 90)
            label[band] = 0
    for _ in range(int(rng.integers(2, 5))):
        (in_id, _), (out_id, _), (color, kind, amp) = CONTEXT[int(
            rng.integers(len(CONTEXT)))]
        mask = common.random_shape_mask(rng, h, w, 0.06, 0.2)
        put(mask, in_id if indoor else out_id, color, kind, amp)
    for _ in range(int(rng.integers(2, 5))):
        cls = int(rng.choice(sorted(THIN)))
        put(thin_mask(rng, h, w, cls), cls, THIN[cls][1], 'flat', 0.0)
    for _ in range(int(rng.integers(6, 14))):
        cls = int(rng.choice(sorted(SMALL)))
        r = rng.uniform(1.5, 4.0)
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        if rng.random() < 0.5:
            mask = common.ellipse_mask(h, w, cx, cy, r, r * rng.uniform(
                0.6, 1.6))
        else:
            mask = common.rect_mask(h, w, cx - r, cy - r, cx + r, cy + r)
        put(mask, cls, SMALL[cls][1], 'flat', 0.0)
    return common.finish(img, rng, noise_std=6.0), label


def make_mini_ade20k_hard(out_dir, num_train=80, num_val=20, size=192,
                          seed=0, verbose=True):
    """Write the set under ``out_dir/ADEChallengeData2016``; returns that
    directory (the ``data_root`` for mmseg's ``ADE20KDataset``)."""
    return common.write_ade20k(
        out_dir, functools.partial(make_sample, size=size),
        (num_train, num_val), seed, CLASSES, verbose)


def main(argv=None):
    common.ade20k_main(make_mini_ade20k_hard, argv)


if __name__ == '__main__':
    main()
