# Copyright (c) veca_mm contributors. Apache-2.0.
"""Generate a tiny, learnable, synthetic COCO panoptic set in COCO's layout.

    python tools/dataset_converters/make_mini_coco_panoptic.py OUT_DIR \
        [--num-train 8] [--num-val 4] [--size 128] [--seed 0]

writes (the layout of ``panoptic_annotations_trainval2017.zip`` unpacked
beside ``train2017/`` and ``val2017/``)::

    OUT_DIR/annotations/panoptic_{train,val}2017.json
    OUT_DIR/annotations/panoptic_{train,val}2017/%012d.png
    OUT_DIR/annotations/instances_{train,val}2017.json
    OUT_DIR/{train,val}2017/%012d.jpg

Every image has two *stuff* regions (two of ``wall``, ``floor``, ``sky``, one
above the other, split by a slanted line) and 2-4 non-overlapping *things*
(``circle``, ``square``, ``triangle``, as in ``make_mini_coco.py``). The
panoptic PNGs are RGB with COCO's id encoding ``id = R + 256 G + 256^2 B``
(0 = void): stuff segments take their category's colour as id, things a
jittered copy of it, unique within the image. Every other thing is outlined
by a 1-pixel void band, like COCO's unlabelled boundaries. Category ids are
COCO-like and not contiguous (things 1-3, stuff 92, 105, 119), so the
dataset's id -> label mapping is exercised. ``instances_*.json`` holds the
same things as COCO instance annotations (RLE), for ``CocoMetric``.
Image sizes vary between 0.8x and 1.2x ``--size`` and avoid multiples of 16.
Deterministic from ``--seed`` (an independent generator per image).

Use it with ``metainfo=dict(classes=CLASSES, thing_classes=THING_CLASSES,
stuff_classes=STUFF_CLASSES)`` (see
``configs/mini/mask2former_veca-t_1xb2-200_mini-coco-panoptic-128x128.py``).
"""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pycocotools.mask as mask_utils

from veca_mm.utils import mini_data as seg_common

# things: the mini COCO categories (id -> (name, RGB colour))
THING_CATEGORIES = dict(seg_common.SHAPE_CATEGORIES)
# stuff: id -> (name, RGB colour, texture, texture amplitude)
STUFF_CATEGORIES = {
    92: ('wall', (200, 190, 165), 'stripes_h', 0.12),
    105: ('floor', (110, 100, 95), 'checker', 0.25),
    119: ('sky', (165, 200, 235), 'blobs', 0.10),
}
THING_CLASSES = tuple(n for n, _ in THING_CATEGORIES.values())
STUFF_CLASSES = tuple(v[0] for v in STUFF_CATEGORIES.values())
# things first, then stuff: mmdet's label order
CLASSES = THING_CLASSES + STUFF_CLASSES
PALETTE = [c for _, c in THING_CATEGORIES.values()] + [
    v[1] for v in STUFF_CATEGORIES.values()]
SPLITS = ('train', 'val')


def rgb2id(color):
    """COCO panoptic id of an RGB colour (array ``(..., 3)`` or a triple)."""
    color = np.asarray(color, np.int64)
    return color[..., 0] + 256 * color[..., 1] + 256 * 256 * color[..., 2]


def id2rgb(id_map):
    """The inverse of :func:`rgb2id`: ``(h, w)`` ids -> ``(h, w, 3)`` uint8."""
    id_map = np.asarray(id_map, np.int64)
    return np.stack([(id_map // 256**i) % 256 for i in range(3)],
                    axis=-1).astype(np.uint8)


def _thing_id(rng, cat_id, taken):
    """A segment id near the category colour, unique within ``taken``."""
    base = np.asarray(THING_CATEGORIES[cat_id][1], np.int64)
    for _ in range(1000):
        color = np.clip(base + rng.integers(-30, 31, size=3), 1, 255)
        seg_id = int(rgb2id(color))
        if seg_id not in taken:
            taken.add(seg_id)
            return seg_id
    raise RuntimeError('could not draw a unique segment id')


def make_image(rng, size):
    """One (RGB uint8 image, int64 panoptic id map, segments) triple;
    ``segments`` maps segment id -> (category id, iscrowd)."""
    h = seg_common.jittered_size(rng, size)
    w = seg_common.jittered_size(rng, size)
    img = np.zeros((h, w, 3), np.float32)
    pan = np.zeros((h, w), np.int64)
    segments = {}

    # two stuff regions split by a slanted line through the middle third
    top, bottom = rng.choice(sorted(STUFF_CATEGORIES), size=2, replace=False)
    y0, y1 = rng.uniform(0.35, 0.65, size=2) * h
    yy, xx = np.mgrid[0:h, 0:w]
    upper = yy < y0 + (y1 - y0) * xx / max(w - 1, 1)
    for cat_id, mask in ((int(top), upper), (int(bottom), ~upper)):
        _, color, kind, amp = STUFF_CATEGORIES[cat_id]
        seg_common.paint(img, mask, color, kind, rng, amplitude=amp)
        seg_id = int(rgb2id(color))
        pan[mask] = seg_id
        segments[seg_id] = (cat_id, 0)

    taken = set(segments)
    occupied = np.zeros((h, w), bool)
    num = int(rng.integers(2, 5))
    placed = 0
    for _ in range(50):  # rejection sampling of non-overlapping shapes
        if placed == num:
            break
        cat_id = int(rng.choice(sorted(THING_CATEGORIES)))
        r = rng.uniform(0.1, 0.2) * min(h, w)
        cx = rng.uniform(r + 2, w - r - 2)
        cy = rng.uniform(r + 2, h - r - 2)
        poly = seg_common.shape_polygon(rng, cat_id, cx, cy, r)
        mask = seg_common.poly_mask(h, w, poly)
        grown = cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8))
        if mask.sum() < 16 or (grown.astype(bool) & occupied).any():
            continue
        occupied |= grown.astype(bool)
        color = np.asarray(THING_CATEGORIES[cat_id][1], np.float32)
        color = (color + rng.uniform(-20, 20, size=3)) * rng.uniform(0.85,
                                                                     1.15)
        img[mask] = color
        seg_id = _thing_id(rng, cat_id, taken)
        pan[mask] = seg_id
        segments[seg_id] = (cat_id, 0)
        if placed % 2 == 1:  # COCO-style unlabelled boundary
            pan[seg_common.ring(mask)] = 0
        placed += 1
    if placed < 2:
        raise RuntimeError('could not place two things; use a larger --size')
    img = seg_common.finish(img, rng, noise_std=8.0)
    return img, pan, segments


def _segment_info(pan, seg_id, cat_id, iscrowd):
    """COCO ``segments_info`` entry (bbox and area of the PNG's pixels)."""
    rle = mask_utils.encode(np.asfortranarray((pan == seg_id).astype(
        np.uint8)))
    x, y, bw, bh = (float(v) for v in mask_utils.toBbox(rle))
    return dict(id=int(seg_id), category_id=int(cat_id),
                iscrowd=int(iscrowd), bbox=[x, y, bw, bh],
                area=int(mask_utils.area(rle))), rle


def make_mini_coco_panoptic(out_dir, num_train=8, num_val=4, size=128,
                            seed=0):
    """Write the set under ``out_dir``; returns the panoptic json paths."""
    if num_train < 1 or num_val < 1:
        raise ValueError('need at least one train and one val image')
    if size < 48:
        raise ValueError(f'--size {size} is too small for 2-4 shapes; use '
                         '48 or more')
    ann_dir = osp.join(out_dir, 'annotations')
    os.makedirs(ann_dir, exist_ok=True)
    categories = [
        dict(id=i, name=n, supercategory='shape', isthing=1, color=list(c))
        for i, (n, c) in THING_CATEGORIES.items()
    ] + [
        dict(id=i, name=v[0], supercategory='stuff', isthing=0,
             color=list(v[1])) for i, v in STUFF_CATEGORIES.items()
    ]
    info = dict(description='veca_mm mini COCO panoptic (synthetic)',
                version='1.0', year=2017)
    paths = []
    image_id = 1
    for split, count in zip(SPLITS, (num_train, num_val)):
        img_dir = osp.join(out_dir, f'{split}2017')
        png_dir = osp.join(ann_dir, f'panoptic_{split}2017')
        images, panoptic, instances = [], [], []
        for i in range(count):
            rng = seg_common.image_rng(seed, split, i)
            img, pan, segments = make_image(rng, size)
            name = f'{image_id:012d}'
            seg_common.write_rgb(osp.join(img_dir, name + '.jpg'), img)
            seg_common.write_rgb(osp.join(png_dir, name + '.png'),
                                 id2rgb(pan))
            images.append(dict(id=image_id, file_name=name + '.jpg',
                               height=img.shape[0], width=img.shape[1]))
            infos = []
            for seg_id, (cat_id, iscrowd) in segments.items():
                seg_info, rle = _segment_info(pan, seg_id, cat_id, iscrowd)
                infos.append(seg_info)
                if cat_id in THING_CATEGORIES:
                    instances.append(dict(
                        id=len(instances) + 1, image_id=image_id,
                        category_id=cat_id, iscrowd=iscrowd,
                        bbox=seg_info['bbox'], area=seg_info['area'],
                        segmentation=dict(
                            size=list(rle['size']),
                            counts=rle['counts'].decode('ascii'))))
            panoptic.append(dict(image_id=image_id, file_name=name + '.png',
                                 segments_info=infos))
            image_id += 1
        for kind, anns, cats in (
                ('panoptic', panoptic, categories),
                ('instances', instances,
                 [c for c in categories if c['isthing']])):
            path = osp.join(ann_dir, f'{kind}_{split}2017.json')
            with open(path, 'w') as f:
                json.dump(dict(info=info, licenses=[], images=images,
                               annotations=anns, categories=cats), f)
            if kind == 'panoptic':
                paths.append(path)
    return paths


def main(argv=None):
    paths = seg_common.generator_main(
        make_mini_coco_panoptic,
        'annotations/ and the image folders go here', argv)
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        segs = [s for a in data['annotations'] for s in a['segments_info']]
        things = sum(s['category_id'] in THING_CATEGORIES for s in segs)
        print(f'{path}: {len(data["images"])} images, {things} things, '
              f'{len(segs) - things} stuff segments')


if __name__ == '__main__':
    main()
