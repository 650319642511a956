# Copyright (c) veca_mm contributors. Apache-2.0.
"""Generate a small, learnable, synthetic ADE20K in ADE20K's on-disk layout.

    python tools/dataset_converters/make_mini_ade20k.py OUT_DIR \
        [--num-train 40] [--num-val 10] [--size 128] [--seed 0]

writes::

    OUT_DIR/ADEChallengeData2016/
        images/{training,validation}/ADE_{train,val}_%08d.jpg
        annotations/{training,validation}/ADE_{train,val}_%08d.png

Annotations are uint8 PNGs with ADE20K's raw values: 0 = "other" (ignored,
mmseg's ``ADE20KDataset`` uses ``reduce_zero_label=True``), 1..150 = classes.
Each image is a textured background of one class (wall or floor) with a few
rectangles, ellipses and triangles of five other ADE classes on top; every
class has its own colour and texture, jittered per shape, plus pixel noise.
Some shapes are outlined with a 1-pixel "other" (0) band, like ADE20K's
unlabelled boundaries. Image sizes vary between 0.8x and 1.2x ``--size`` and
avoid multiples of 16. Deterministic from ``--seed``.
"""
import functools

import numpy as np

from veca_mm.utils import mini_data as common

# ADE20K raw label value (index in mmseg's ADE20KDataset.METAINFO + 1):
# (name, RGB colour, texture, texture amplitude)
BACKGROUND_CLASSES = {
    1: ('wall', (205, 195, 170), 'stripes_h', 0.12),
    4: ('floor', (105, 105, 118), 'checker', 0.25),
}
FOREGROUND_CLASSES = {
    5: ('tree', (45, 130, 50), 'blobs', 0.35),
    8: ('bed', (185, 45, 60), 'stripes_d', 0.25),
    9: ('windowpane', (140, 195, 235), 'grid', 0.30),
    13: ('person', (230, 160, 110), 'dots', 0.15),
    16: ('table', (100, 60, 30), 'stripes_v', 0.30),
}
CLASSES = {**BACKGROUND_CLASSES, **FOREGROUND_CLASSES}


def make_sample(rng, size):
    """One (RGB uint8 image, uint8 raw ADE label map) pair."""
    h = common.jittered_size(rng, size)
    w = common.jittered_size(rng, size)
    img = np.zeros((h, w, 3), np.float32)
    label = np.zeros((h, w), np.uint8)

    bg = int(rng.choice(sorted(BACKGROUND_CLASSES)))
    _, color, kind, amp = BACKGROUND_CLASSES[bg]
    everything = np.ones((h, w), bool)
    common.paint(img, everything, color, kind, rng, amplitude=amp)
    label[:] = bg

    fg_ids = sorted(FOREGROUND_CLASSES)
    for _ in range(int(rng.integers(2, 6))):
        cls = int(rng.choice(fg_ids))
        _, color, kind, amp = FOREGROUND_CLASSES[cls]
        mask = common.random_shape_mask(rng, h, w)
        common.paint(img, mask, color, kind, rng, amplitude=amp)
        label[mask] = cls
        if rng.random() < 0.3:  # an unlabelled outline, as in ADE20K
            band = common.ring(mask, 1)
            img[band] = rng.uniform(40, 90)
            label[band] = 0
    return common.finish(img, rng), label


def make_mini_ade20k(out_dir, num_train=40, num_val=10, size=128, seed=0,
                     verbose=True):
    """Write the mini set under ``out_dir/ADEChallengeData2016``; returns
    that directory (the ``data_root`` for mmseg's ``ADE20KDataset``)."""
    return common.write_ade20k(
        out_dir, functools.partial(make_sample, size=size),
        (num_train, num_val), seed, CLASSES, verbose)


def main(argv=None):
    common.ade20k_main(make_mini_ade20k, argv)


if __name__ == '__main__':
    main()
