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
import argparse
import glob
import os.path as osp
import sys

import numpy as np

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import mini_seg_common as common  # noqa: E402

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
SPLITS = (('train', 'training'), ('val', 'validation'))


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
    root = osp.join(out_dir, 'ADEChallengeData2016')
    for (split, folder), num in zip(SPLITS, (num_train, num_val)):
        counts = np.zeros(256, np.int64)
        for i in range(num):
            rng = common.image_rng(seed, split, i)
            img, label = make_sample(rng, size)
            name = f'ADE_{split}_{i + 1:08d}'
            common.write_rgb(
                osp.join(root, 'images', folder, name + '.jpg'), img)
            common.write_label(
                osp.join(root, 'annotations', folder, name + '.png'), label)
            counts += np.bincount(label.ravel(), minlength=256)
        if verbose:
            present = ', '.join(
                f'{CLASSES[c][0]}({c}) {100 * counts[c] / counts.sum():.1f}%'
                for c in sorted(CLASSES) if counts[c])
            print(f'{split}: {num} images -> {root}/images/{folder}, '
                  f'annotations/{folder}; pixels: {present}, '
                  f'other(0) {100 * counts[0] / max(counts.sum(), 1):.1f}%')
    return root


def _ade_root(data_root):
    sub = osp.join(data_root, 'ADEChallengeData2016')
    return sub if osp.isdir(sub) else data_root


def trivial_miou(data_root):
    """mIoU (percent, mmseg ``IoUMetric`` style) on the validation split of
    the predictor that outputs the most frequent training class everywhere.

    ``data_root`` is the ``ADEChallengeData2016`` directory (or its parent).
    Labels are reduced as mmseg does (raw 0 ignored, class ``c`` -> ``c-1``);
    as in ``IoUMetric``, the mean runs over classes whose union is non-empty.
    """
    root = _ade_root(data_root)

    def labels(folder):
        paths = sorted(
            glob.glob(osp.join(root, 'annotations', folder, '*.png')))
        if not paths:
            raise FileNotFoundError(
                f'no annotations in {osp.join(root, "annotations", folder)}')
        return [common.read_label(p) for p in paths]

    train_counts = np.zeros(256, np.int64)
    for label in labels('training'):
        train_counts += np.bincount(label.ravel(), minlength=256)
    train_counts[0] = 0  # "other" is ignored
    majority = int(np.argmax(train_counts))

    intersect = np.zeros(256, np.int64)
    area_pred = np.zeros(256, np.int64)
    area_label = np.zeros(256, np.int64)
    for label in labels('validation'):
        valid = label[label != 0]
        area_label += np.bincount(valid, minlength=256)
        area_pred[majority] += valid.size
        intersect[majority] += int((valid == majority).sum())
    union = area_pred + area_label - intersect
    present = union > 0
    iou = intersect[present] / union[present]
    return float(np.round(np.mean(iou) * 100, 2))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Generate a mini synthetic ADE20K (real layout).')
    parser.add_argument('out_dir', help='ADEChallengeData2016/ goes here')
    parser.add_argument('--num-train', type=int, default=40)
    parser.add_argument('--num-val', type=int, default=10)
    parser.add_argument('--size', type=int, default=128,
                        help='nominal side; each side is 0.8x..1.2x of it')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    root = make_mini_ade20k(args.out_dir, args.num_train, args.num_val,
                            args.size, args.seed)
    print(f'mini ADE20K written to {root}; trivial (majority-class) mIoU '
          f'on validation: {trivial_miou(root):.2f}')


if __name__ == '__main__':
    main()
