# Copyright (c) veca_mm contributors. Apache-2.0.
"""Generate a small, learnable, synthetic PASCAL VOC 2012 (+ the SBD "aug"
set) in the on-disk layout mmseg's ``PascalVOCDataset`` reads.

    python tools/dataset_converters/make_mini_voc.py OUT_DIR \
        [--num-train 8] [--num-aug 4] [--num-val 4] [--size 96] [--seed 0]

writes::

    OUT_DIR/VOCdevkit/VOC2012/
        JPEGImages/<name>.jpg
        SegmentationClass/<name>.png        # train + val: paletted PNGs
        SegmentationClassAug/<name>.png     # train + aug: grey PNGs
        ImageSets/Segmentation/{train,val,aug}.txt

as the official VOC2012 tarball plus mmseg's ``voc_aug.py`` conversion of
SBD leave it: ``SegmentationClass`` PNGs are palette images (index = class,
0 background, 1..20 classes, 255 the "void" outline around objects),
``SegmentationClassAug`` PNGs are single-channel with the same values and no
outline (SBD has none), and ``aug.txt`` lists train plus the extra SBD
images, never a val image. Names look like VOC's (``2007_000001``; the
aug-only images ``2011_%06d``). Each image is a textured background with a
few shapes of five VOC classes, every class its own colour and texture;
deterministic from ``--seed``. Use ``configs/veca_linear_voc12aug.py``'s
``data_root = OUT_DIR/VOCdevkit/VOC2012``.
"""
import os
import os.path as osp

import numpy as np

from veca_mm.utils import mini_data as common

VOID = 255
BACKGROUND = (0, ('background', (120, 130, 110), 'blobs', 0.25))
# VOC class index: (name, RGB colour, texture, amplitude)
CLASSES = {
    3: ('bird', (230, 200, 60), 'stripes_d', 0.25),
    7: ('car', (30, 40, 160), 'stripes_v', 0.15),
    8: ('cat', (200, 120, 60), 'dots', 0.20),
    12: ('dog', (110, 70, 40), 'checker', 0.20),
    15: ('person', (220, 40, 110), 'stripes_h', 0.20),
}


def voc_palette():
    """VOC's colour map (the bit-interleaved one of the devkit), 256 x 3."""
    pal = np.zeros((256, 3), np.uint8)
    for i in range(256):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal[i] = (r, g, b)
    return pal


def write_palette_label(path, label):
    """A palette ('P') PNG whose pixel values are the class indices."""
    from PIL import Image
    os.makedirs(osp.dirname(path), exist_ok=True)
    img = Image.fromarray(label.astype(np.uint8), mode='P')
    img.putpalette(voc_palette().ravel().tolist())
    img.save(path)


def make_sample(rng, size, void_outline=True):
    """One (RGB uint8 image, uint8 VOC label map) pair."""
    h = common.jittered_size(rng, size)
    w = common.jittered_size(rng, size)
    img = np.zeros((h, w, 3), np.float32)
    label = np.zeros((h, w), np.uint8)
    _, (_, color, kind, amp) = BACKGROUND
    common.paint(img, np.ones((h, w), bool), color, kind, rng, amplitude=amp)
    outline = np.zeros((h, w), bool)
    ids = sorted(CLASSES)
    for _ in range(int(rng.integers(1, 4))):
        cls = int(rng.choice(ids))
        _, color, kind, amp = CLASSES[cls]
        mask = common.random_shape_mask(rng, h, w, 0.25, 0.6)
        common.paint(img, mask, color, kind, rng, amplitude=amp)
        label[mask] = cls
        outline &= ~mask
        outline |= common.ring(mask, 1)
    if void_outline:  # VOC marks object borders "void" (ignored)
        label[outline] = VOID
    return common.finish(img, rng), label


def make_mini_voc(out_dir, num_train=8, num_aug=4, num_val=4, size=96,
                  seed=0, verbose=True):
    """Write the mini set; returns ``OUT_DIR/VOCdevkit/VOC2012`` (the
    ``data_root`` of mmseg's VOC configs)."""
    root = osp.join(out_dir, 'VOCdevkit', 'VOC2012')
    sets = osp.join(root, 'ImageSets', 'Segmentation')
    os.makedirs(sets, exist_ok=True)
    names = dict(train=[], val=[], aug=[])
    # VOC train and val images have both label kinds (SBD relabelled part
    # of VOC); aug-only images exist only in SegmentationClassAug.
    plan = ([('train', i, f'2007_{i + 1:06d}') for i in range(num_train)] +
            [('val', i, f'2008_{i + 1:06d}') for i in range(num_val)] +
            [('aug', i, f'2011_{i + 1:06d}') for i in range(num_aug)])
    for split, i, name in plan:
        rng = common.image_rng(seed, 'val' if split == 'val' else 'train',
                               i + (100000 if split == 'aug' else 0))
        img, label = make_sample(rng, size)
        common.write_rgb(osp.join(root, 'JPEGImages', name + '.jpg'), img)
        if split != 'aug':
            write_palette_label(
                osp.join(root, 'SegmentationClass', name + '.png'), label)
        if split != 'val':
            sbd = label.copy()
            sbd[sbd == VOID] = 0  # SBD boundaries are not void
            common.write_label(
                osp.join(root, 'SegmentationClassAug', name + '.png'), sbd)
        names[split].append(name)
    files = dict(train=names['train'], val=names['val'],
                 aug=names['train'] + names['aug'])
    common.write_lists(sets, files)
    if verbose:
        print(f'mini VOC2012: {num_train} train, {num_val} val, '
              f'{len(files["aug"])} aug images -> {root}')
    return root


def main(argv=None):
    common.generator_main(
        make_mini_voc, 'VOCdevkit/VOC2012/ goes here', argv,
        helps=dict(num_aug='extra SBD-only images (in aug.txt only)'))


if __name__ == '__main__':
    main()
