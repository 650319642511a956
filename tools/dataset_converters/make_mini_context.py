# Copyright (c) veca_mm contributors. Apache-2.0.
"""Generate a mini segmentation set where a region's class is decided far
away: the test of what sliding-window inference loses.

    python tools/dataset_converters/make_mini_context.py OUT_DIR \\
        [--num-train 48] [--num-val 8] [--height 64] [--train-width 128] \\
        [--val-width 256] [--seed 0]

writes, in the ADE20K on-disk layout (read by mmseg's ``BaseSegDataset``
with ``reduce_zero_label=True``, see ``configs/mini/``)::

    OUT_DIR/ADEChallengeData2016/
        images/{training,validation}/ADE_{train,val}_%08d.jpg
        annotations/{training,validation}/ADE_{train,val}_%08d.png

Every image has a **scene cue** in its top-left corner, a red or a blue
block, and grey textured objects scattered over the rest. An object's class
is "object in a red scene" or "object in a blue scene": the objects look
the same in both, so only the cue, possibly the whole image width away,
tells them apart. A model trained on ``train-width`` images and evaluated on
the wider validation images with sliding windows of the training size sees
no cue in most windows and can only guess; whole-image inference (or
tiled-head whole, whose backbone sees the whole image) keeps the cue.

Raw labels (``reduce_zero_label`` maps raw ``c`` to class ``c - 1``):
1 background, 2 red cue, 3 blue cue, 4 object (red scene), 5 object (blue
scene). Red and blue scenes alternate within each split. Deterministic
from ``--seed``.
"""
import itertools

import numpy as np

from veca_mm.utils import mini_data as common

# raw label: (name, RGB colour, texture, amplitude)
CLASSES = {
    1: ('background', (120, 110, 100), 'blobs', 0.15),
    2: ('red cue', (220, 40, 40), 'flat', 0.0),
    3: ('blue cue', (40, 60, 220), 'flat', 0.0),
    4: ('object in red scene', (150, 150, 150), 'checker', 0.35),
    5: ('object in blue scene', (150, 150, 150), 'checker', 0.35),
}
CLASS_NAMES = tuple(v[0] for _, v in sorted(CLASSES.items()))


def _paint(img, label, mask, cls, rng, kind_cls=None):
    _, color, kind, amp = CLASSES[kind_cls or cls]
    common.paint(img, mask, color, kind, rng, amplitude=amp)
    label[mask] = cls


def make_sample(rng, height, width, red):
    """One (RGB uint8 image, raw label map): the red or blue cue block in
    the top-left corner, 2-5 objects anywhere right of it."""
    h, w = int(height), int(width)
    img = np.zeros((h, w, 3), np.float32)
    label = np.zeros((h, w), np.uint8)
    _paint(img, label, common.rect_mask(h, w, 0, 0, w, h), 1, rng)
    cue = int(round(h * 0.375))
    _paint(img, label, common.rect_mask(h, w, 0, 0, cue - 1, cue - 1),
           2 if red else 3, rng)
    obj = 4 if red else 5
    for _ in range(int(rng.integers(2, 6))):
        r = rng.uniform(0.12, 0.22) * h
        cx = rng.uniform(cue + r, w - r)
        cy = rng.uniform(r, h - r)
        mask = common.ellipse_mask(h, w, cx, cy, r, r * rng.uniform(0.7, 1.3),
                                   rng.uniform(0, 180)) if rng.random() < .5 \
            else common.rect_mask(h, w, cx - r, cy - r, cx + r, cy + r)
        _paint(img, label, mask, obj, rng, kind_cls=4)  # same look
    return common.finish(img, rng), label


def make_mini_context(out_dir, num_train=48, num_val=8, height=64,
                      train_width=128, val_width=256, seed=0, verbose=True):
    """Write the set (training images ``height x train_width``, validation
    ``height x val_width``); returns the ``ADEChallengeData2016`` root."""
    if min(num_train, num_val) < 1 or height < 16 or min(
            train_width, val_width) < 2 * height:
        raise ValueError(
            'make_mini_context: need >= 1 image per split, height >= 16 and '
            'widths >= 2 x height (objects must have room beside the cue).')
    for split, nums, width in (('train', (num_train, 0), train_width),
                               ('val', (0, num_val), val_width)):
        # red and blue scenes alternate: a split with few images is still
        # balanced, so guessing one scene everywhere scores what it should
        scenes = itertools.cycle((True, False))
        root = common.write_ade20k(
            out_dir, lambda rng, w=width: make_sample(rng, height, w,
                                                      next(scenes)),
            nums, seed, CLASSES, verbose=False)
        if verbose:
            print(f'{split}: {sum(nums)} images of {height}x{width} -> '
                  f'{root}')
    return root


def main(argv=None):
    args = common.generator_parser(
        __doc__.splitlines()[0], 'output directory',
        **common.int_defaults(make_mini_context)).parse_args(argv)
    make_mini_context(args.out_dir, args.num_train, args.num_val,
                      args.height, args.train_width, args.val_width,
                      args.seed)


if __name__ == '__main__':
    main()
