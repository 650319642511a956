# Copyright (c) veca_mm contributors. Apache-2.0.
"""Generate a small, learnable, synthetic Cityscapes in its on-disk layout.

    python tools/dataset_converters/make_mini_cityscapes.py OUT_DIR \
        [--num-train 8] [--num-val 4] [--height 128] [--width 256] [--seed 0]

writes::

    OUT_DIR/cityscapes/
        leftImg8bit/{train,val}/<city>/<city>_000000_%06d_leftImg8bit.png
        gtFine/{train,val}/<city>/<city>_000000_%06d_gtFine_labelTrainIds.png

Labels are Cityscapes train ids (0..18, 255 = ignore), which is what mmseg's
``CityscapesDataset`` reads. Each image is a street scene: sky above a
horizon, buildings and trees along it, a road narrowing towards a vanishing
point with sidewalks on both sides, cars on the road, people on the
sidewalks, poles with traffic signs, and an ignored ego-vehicle band at the
bottom. Every class has its own colour and texture, jittered per object,
plus pixel noise. Deterministic from ``--seed``.
"""
import os.path as osp

import numpy as np

from veca_mm.utils import mini_data as common

IGNORE = 255
# train id: (name, RGB colour, texture, amplitude)
CLASSES = {
    0: ('road', (90, 85, 95), 'dots', 0.20),
    1: ('sidewalk', (190, 150, 170), 'checker', 0.12),
    2: ('building', (150, 120, 90), 'grid', 0.25),
    5: ('pole', (200, 200, 60), 'flat', 0.0),
    7: ('traffic sign', (240, 220, 0), 'flat', 0.0),
    8: ('vegetation', (60, 140, 40), 'blobs', 0.40),
    10: ('sky', (120, 170, 235), 'blobs', 0.08),
    11: ('person', (220, 30, 90), 'stripes_h', 0.20),
    13: ('car', (20, 30, 150), 'stripes_v', 0.15),
}
TRAIN_CITIES = ('aachen', 'bochum')
VAL_CITIES = ('frankfurt', )


def _paint(img, label, mask, cls, rng, **kwargs):
    _, color, kind, amp = CLASSES[cls]
    common.paint(img, mask, color, kind, rng, amplitude=amp, **kwargs)
    label[mask] = cls


def make_sample(rng, height, width):
    """One (RGB uint8 image, uint8 train-id label map) street scene."""
    h, w = int(height), int(width)
    img = np.zeros((h, w, 3), np.float32)
    label = np.full((h, w), IGNORE, np.uint8)
    horizon = int(h * rng.uniform(0.38, 0.5))
    vx = w * rng.uniform(0.4, 0.6)

    _paint(img, label, common.rect_mask(h, w, 0, 0, w, h), 10, rng)  # sky

    # buildings along the horizon, then trees in front of some of them
    x = -rng.uniform(0, 0.1) * w
    while x < w:
        bw = rng.uniform(0.12, 0.3) * w
        top = horizon - rng.uniform(0.12, 0.38) * h
        _paint(img, label, common.rect_mask(h, w, x, top, x + bw, horizon),
               2, rng, color_jitter=20)
        x += bw + rng.uniform(0, 0.04) * w
    for _ in range(int(rng.integers(1, 4))):
        cx = rng.uniform(0, 1) * w
        ax, ay = rng.uniform(0.05, 0.12) * w, rng.uniform(0.08, 0.18) * h
        _paint(img, label,
               common.ellipse_mask(h, w, cx, horizon - ay * 0.8, ax, ay), 8,
               rng)

    # ground: road towards the vanishing point, sidewalks on both sides
    below = common.rect_mask(h, w, 0, horizon, w, h)
    _paint(img, label, below, 1, rng)
    half = rng.uniform(0.3, 0.45) * w
    road = common.poly_mask(h, w, [(vx - 2, horizon), (vx + 2, horizon),
                                   (vx + half + 0.25 * w, h),
                                   (vx - half - 0.25 * w, h)])
    _paint(img, label, road & below, 0, rng)

    def depth(y):  # 0 at the horizon, 1 at the bottom
        return (y - horizon) / max(h - horizon, 1)

    # poles with signs, people on the sidewalks, cars on the road
    for _ in range(int(rng.integers(0, 3))):
        side = rng.choice([-1, 1])
        y = horizon + rng.uniform(0.3, 0.7) * (h - horizon)
        px = vx + side * (half * depth(y) + 0.3 * w * depth(y) + 4)
        ph = 0.5 * h * depth(y) + 0.15 * h
        pw = max(3, 0.016 * w)
        _paint(img, label, common.rect_mask(h, w, px, y - ph, px + pw, y), 5,
               rng)
        s = max(4, 0.04 * w * (0.5 + depth(y)))
        _paint(img, label,
               common.rect_mask(h, w, px - s / 2, y - ph - s, px + s / 2,
                                y - ph), 7, rng)
    for _ in range(int(rng.integers(1, 4))):
        side = rng.choice([-1, 1])
        y = horizon + rng.uniform(0.2, 0.8) * (h - horizon)
        d = depth(y)
        px = vx + side * (half * d + rng.uniform(0.05, 0.2) * w * (0.3 + d))
        ph, pw = (0.12 + 0.3 * d) * h, (0.03 + 0.05 * d) * w
        _paint(img, label,
               common.ellipse_mask(h, w, px, y - ph / 2, pw / 2, ph / 2), 11,
               rng, color_jitter=25)
    cars = sorted(horizon + rng.uniform(0.25, 0.85, size=int(
        rng.integers(1, 4))) * (h - horizon))
    for y in cars:  # far to near, so nearer cars occlude farther ones
        d = depth(y)
        cw, ch = (0.08 + 0.25 * d) * w, (0.05 + 0.2 * d) * h
        cx = vx + rng.uniform(-0.7, 0.7) * half * d
        body = common.rect_mask(h, w, cx - cw / 2, y - ch, cx + cw / 2, y)
        _paint(img, label, body, 13, rng, color_jitter=25)
        window = common.rect_mask(h, w, cx - cw * 0.35, y - ch,
                                  cx + cw * 0.35, y - ch * 0.65)
        img[window] = img[window] * 0.5 + 60  # lighter windows, still "car"
        if rng.random() < 0.5:  # an unlabelled outline, as in gtFine
            label[common.ring(body, 1) & (label != 13)] = IGNORE

    ego = int(h * rng.uniform(0.05, 0.08))  # the ego vehicle's bonnet
    img[h - ego:] = np.asarray((30, 30, 30), np.float32)
    label[h - ego:] = IGNORE
    return common.finish(img, rng), label


def make_mini_cityscapes(out_dir, num_train=8, num_val=4, height=128,
                         width=256, seed=0, verbose=True):
    """Write the mini set under ``out_dir/cityscapes``; returns that
    directory (the ``data_root`` for mmseg's ``CityscapesDataset``)."""
    root = osp.join(out_dir, 'cityscapes')
    for split, num, cities in (('train', num_train, TRAIN_CITIES),
                               ('val', num_val, VAL_CITIES)):

        def paths(i, split=split, cities=cities):
            city = cities[i % len(cities)]
            stem = osp.join(split, city, f'{city}_000000_{i:06d}')
            return (osp.join(root, 'leftImg8bit', stem + '_leftImg8bit.png'),
                    osp.join(root, 'gtFine',
                             stem + '_gtFine_labelTrainIds.png'))

        counts = common.write_samples(
            lambda rng: make_sample(rng, height, width), seed, split, num,
            paths)
        if verbose:
            print(f'{split}: {num} images ({", ".join(cities)}) -> '
                  f'{root}/leftImg8bit/{split}, gtFine/{split}; pixels: '
                  f'{common.pixel_shares(counts, CLASSES, IGNORE)}')
    return root


def main(argv=None):
    common.generator_main(make_mini_cityscapes, 'cityscapes/ goes here', argv)


if __name__ == '__main__':
    main()
