# Copyright (c) veca_mm contributors. Apache-2.0.
"""Generate a tiny, learnable, synthetic COCO-format instance set.

    python tools/dataset_converters/make_mini_coco.py OUT_DIR \
        [--num-train 8] [--num-val 4] [--size 128] [--seed 0]

writes::

    OUT_DIR/annotations/instances_{train,val}2017.json
    OUT_DIR/{train,val}2017/%012d.jpg

Every image is a noisy, gently shaded background with 2-4 non-overlapping
coloured shapes; the shape decides the category (``circle``, ``square``,
``triangle``), the colour is the category's, jittered per instance. Instance
masks alternate between the two encodings COCO uses for ``iscrowd=0``:
polygons (``[[x0, y0, x1, y1, ...]]``) and compressed RLE
(``{'size': [h, w], 'counts': str}`` from ``pycocotools.mask.encode``), with
at least one of each per split. The pixels are painted from the very mask the
annotation decodes to, and ``bbox``/``area`` are pycocotools' own
``toBbox``/``area`` of that mask, so image, mask, box and area always agree.
Image sizes vary between 0.8x and 1.2x ``--size`` and avoid multiples of 16.
Deterministic from ``--seed`` (an independent generator per image).

Use it with ``metainfo=dict(classes=CLASSES)`` (see
``configs/mini/mask-rcnn_veca-t_1xb2-20_mini-coco-128x128.py``).
"""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pycocotools.mask as mask_utils

from veca_mm.utils.mini_data import (SHAPE_CATEGORIES, generator_main,
                                     image_rng, jittered_size, shape_polygon)

# COCO category id -> (name, RGB colour)
CATEGORIES = SHAPE_CATEGORIES
CLASSES = tuple(name for name, _ in CATEGORIES.values())
PALETTE = [color for _, color in CATEGORIES.values()]
SPLITS = ('train', 'val')


def _background(rng, h, w):
    # greyish, so the category colours stand out
    base = rng.uniform(80, 180) + rng.uniform(-25, 25, size=3)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    grad = rng.uniform(-0.25, 0.25, size=2)
    shade = 1.0 + grad[0] * (xx / w - 0.5) + grad[1] * (yy / h - 0.5)
    return base[None, None] * shade[..., None]


def make_image(rng, size, first_ann_id, image_id):
    """One (RGB uint8 image, list of COCO annotations)."""
    h, w = (max(jittered_size(rng, size), 32) for _ in range(2))
    img = _background(rng, h, w)
    occupied = np.zeros((h, w), bool)
    anns = []
    num = int(rng.integers(2, 5))
    for _ in range(50):  # rejection sampling of non-overlapping shapes
        if len(anns) == num:
            break
        cat_id = int(rng.choice(sorted(CATEGORIES)))
        r = rng.uniform(0.1, 0.22) * min(h, w)
        cx = rng.uniform(r + 1, w - r - 1)
        cy = rng.uniform(r + 1, h - r - 1)
        poly = shape_polygon(rng, cat_id, cx, cy, r)
        poly = np.round(poly, 2)
        ann_id = first_ann_id + len(anns)
        if ann_id % 2 == 0:  # every other instance: compressed RLE
            # of the pixels cv2 rasterises
            m = np.zeros((h, w), np.uint8)
            cv2.fillPoly(m, [np.round(poly).astype(np.int32)[:, None]], 1)
            rle = mask_utils.encode(np.asfortranarray(m))
            segmentation = dict(size=[h, w],
                                counts=rle['counts'].decode('ascii'))
        else:
            segmentation = [[float(v) for v in poly.reshape(-1)]]
            rle = mask_utils.merge(
                mask_utils.frPyObjects(segmentation, h, w))
        mask = mask_utils.decode(rle).astype(bool)
        grown = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8))
        if not mask.any() or (grown.astype(bool) & occupied).any():
            continue
        occupied |= mask
        color = np.asarray(CATEGORIES[cat_id][1], np.float32)
        color = (color + rng.uniform(-20, 20, size=3)) * rng.uniform(0.85,
                                                                     1.15)
        img[mask] = color
        x, y, bw, bh = (float(v) for v in mask_utils.toBbox(rle))
        anns.append(dict(
            id=ann_id, image_id=image_id, category_id=cat_id,
            segmentation=segmentation, area=float(mask_utils.area(rle)),
            bbox=[x, y, bw, bh], iscrowd=0))
    img = img + rng.normal(0.0, 10.0, size=img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), anns


def make_mini_coco(out_dir, num_train=8, num_val=4, size=128, seed=0):
    """Write the set under ``out_dir``; returns the two annotation paths."""
    if num_train < 1 or num_val < 1:
        raise ValueError('need at least one train and one val image')
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    categories = [dict(id=i, name=n, supercategory='shape')
                  for i, (n, _) in CATEGORIES.items()]
    paths = []
    image_id = 1
    for split, count in zip(SPLITS, (num_train, num_val)):
        img_dir = osp.join(out_dir, f'{split}2017')
        os.makedirs(img_dir, exist_ok=True)
        images, annotations = [], []
        for i in range(count):
            rng = image_rng(seed, split, i)
            # instance ids alternate polygon / RLE, and every image has >= 2
            img, anns = make_image(rng, size, len(annotations) + 1, image_id)
            name = f'{image_id:012d}.jpg'
            ok = cv2.imwrite(osp.join(img_dir, name),
                             np.ascontiguousarray(img[..., ::-1]),
                             [int(cv2.IMWRITE_JPEG_QUALITY), 95])
            if not ok:
                raise IOError(f'could not write {name}')
            images.append(dict(id=image_id, file_name=name,
                               height=img.shape[0], width=img.shape[1]))
            annotations += anns
            image_id += 1
        kinds = {isinstance(a['segmentation'], dict) for a in annotations}
        if kinds != {True, False}:
            raise RuntimeError(f'{split}: expected polygon and RLE masks')
        coco = dict(info=dict(description='veca_mm mini COCO (synthetic)',
                              version='1.0', year=2017),
                    licenses=[], images=images, annotations=annotations,
                    categories=categories)
        path = osp.join(out_dir, 'annotations', f'instances_{split}2017.json')
        with open(path, 'w') as f:
            json.dump(coco, f)
        paths.append(path)
    return paths


def main(argv=None):
    paths = generator_main(make_mini_coco,
                           'annotations/ and the image folders go here',
                           argv)
    for path in paths:
        with open(path) as f:
            coco = json.load(f)
        print(f'{path}: {len(coco["images"])} images, '
              f'{len(coco["annotations"])} instances')


if __name__ == '__main__':
    main()
