# Copyright (c) veca_mm contributors. Apache-2.0.
"""Generate a small, learnable, synthetic PASCAL Context in the on-disk
layout mmseg's ``PascalContextDataset`` / ``PascalContextDataset59`` read.

    python tools/dataset_converters/make_mini_pascal_context.py OUT_DIR \
        [--num-train 8] [--num-val 4] [--size 96] [--seed 0]

writes::

    OUT_DIR/VOCdevkit/VOC2010/
        JPEGImages/<name>.jpg
        SegmentationClassContext/<name>.png
        ImageSets/SegmentationContext/{train,val}.txt

as mmseg's ``pascal_context.py`` converter leaves the real set: labels are
single-channel uint8 PNGs with values 0..59, 0 = background / unlabelled
(a class of its own for the 60-class ``PascalContextDataset``, ignored by
``PascalContextDataset59``, which reduces the zero label). Each image is a
scene: sky or wall above a horizon, grass, road or floor below it, and a few
objects (person, car, dog, tree, building) on top, plus small unlabelled
patches; every class has its own colour and texture. Names look like VOC2010
(``2008_%06d``). Deterministic from ``--seed``. ``data_root`` =
``OUT_DIR/VOCdevkit/VOC2010``.
"""
import os.path as osp

import numpy as np

from veca_mm.utils import mini_data as common

# Label value (index in PascalContextDataset.METAINFO['classes']):
# (name, RGB colour, texture, amplitude)
UPPER = {
    47: ('sky', (125, 175, 235), 'blobs', 0.08),
    56: ('wall', (200, 190, 165), 'stripes_h', 0.12),
}
LOWER = {
    26: ('floor', (110, 100, 120), 'checker', 0.25),
    29: ('grass', (70, 150, 50), 'dots', 0.30),
    41: ('road', (85, 85, 90), 'grid', 0.20),
}
OBJECTS = {
    11: ('building', (150, 115, 85), 'grid', 0.30),
    14: ('car', (25, 35, 160), 'stripes_v', 0.15),
    23: ('dog', (120, 75, 40), 'checker', 0.20),
    37: ('person', (225, 45, 110), 'stripes_h', 0.20),
    53: ('tree', (40, 110, 45), 'blobs', 0.40),
}
CLASSES = {**UPPER, **LOWER, **OBJECTS}


def make_sample(rng, size):
    """One (RGB uint8 image, uint8 context label map) pair."""
    h = common.jittered_size(rng, size)
    w = common.jittered_size(rng, size)
    img = np.zeros((h, w, 3), np.float32)
    label = np.zeros((h, w), np.uint8)
    horizon = int(h * rng.uniform(0.35, 0.6))
    rows = np.arange(h)[:, None] < horizon
    for table, mask in ((UPPER, np.broadcast_to(rows, (h, w))),
                        (LOWER, np.broadcast_to(~rows, (h, w)))):
        cls = int(rng.choice(sorted(table)))
        _, color, kind, amp = table[cls]
        common.paint(img, mask, color, kind, rng, amplitude=amp)
        label[mask] = cls
    for _ in range(int(rng.integers(1, 4))):
        cls = int(rng.choice(sorted(OBJECTS)))
        _, color, kind, amp = OBJECTS[cls]
        mask = common.random_shape_mask(rng, h, w, 0.2, 0.5)
        common.paint(img, mask, color, kind, rng, amplitude=amp)
        label[mask] = cls
    if rng.random() < 0.5:  # an unlabelled (0) patch, as in the real set
        mask = common.random_shape_mask(rng, h, w, 0.08, 0.15)
        img[mask] = rng.uniform(30, 220, size=3)
        label[mask] = 0
    return common.finish(img, rng), label


def make_mini_pascal_context(out_dir, num_train=8, num_val=4, size=96,
                             seed=0, verbose=True):
    """Write the mini set; returns ``OUT_DIR/VOCdevkit/VOC2010`` (the
    ``data_root`` of mmseg's Pascal Context configs)."""
    root = osp.join(out_dir, 'VOCdevkit', 'VOC2010')
    sets = osp.join(root, 'ImageSets', 'SegmentationContext')
    names = {}
    for split, num, offset in (('train', num_train, 0),
                               ('val', num_val, 50000)):
        names[split] = [f'2008_{offset + i + 1:06d}' for i in range(num)]
        common.write_samples(
            lambda rng: make_sample(rng, size), seed, split, num,
            lambda i, split=split: (
                osp.join(root, 'JPEGImages', names[split][i] + '.jpg'),
                osp.join(root, 'SegmentationClassContext',
                         names[split][i] + '.png')))
    common.write_lists(sets, names)
    if verbose:
        print(f'mini PASCAL Context: {num_train} train, {num_val} val '
              f'images -> {root}')
    return root


def main(argv=None):
    common.generator_main(make_mini_pascal_context,
                          'VOCdevkit/VOC2010/ goes here', argv)


if __name__ == '__main__':
    main()
