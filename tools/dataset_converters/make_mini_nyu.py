# Copyright (c) veca_mm contributors. Apache-2.0.
"""Generate a tiny synthetic NYUv2 depth set in mmseg's ``NYUDataset`` layout.

    python tools/dataset_converters/make_mini_nyu.py OUT_DIR \
        [--num-train 8] [--num-test 3] [--height 72] [--width 96] [--seed 0]

writes::

    OUT_DIR/nyu/
        images/{train,test}/<scene>_<NNNN>.jpg
        annotations/{train,test}/<scene>_<NNNN>.png

Annotations are 16-bit PNGs in millimetres (metres = value / 1000, what
``LoadDepthAnnotation(depth_rescale_factor=1e-3)`` reads); 0 marks missing
Kinect depth (a few small holes per image). Each scene is a room: a back wall
at 3..8 m, a floor whose depth grows towards the wall, and a few boxes
closer to the camera; the image is a textured rendering shaded darker with
distance, so depth is learnable. Scene names are NYU categories, so mmseg
derives ``category_id`` from the file name. Deterministic from ``--seed``.
"""
import os
import os.path as osp

import cv2
import numpy as np

from veca_mm.utils.mini_data import generator_main, write_depth

SCENES = ('bedroom', 'kitchen', 'living_room', 'bathroom', 'office')
MAX_DEPTH = 10.0


def make_sample(rng, height, width):
    """One (BGR uint8 image, float32 depth in metres, 0 = missing)."""
    h, w = height, width
    rows = np.arange(h, dtype=np.float32)[:, None]
    wall = float(rng.uniform(3.0, 8.0))
    horizon = int(rng.uniform(0.45, 0.65) * h)
    depth = np.full((h, w), wall, np.float32)
    # floor: depth = camera height * focal / (row - horizon), capped at wall
    below = rows[horizon + 1:] - horizon
    floor = np.minimum(wall, 1.2 * h / below).astype(np.float32)
    depth[horizon + 1:] = np.broadcast_to(floor, (h - horizon - 1, w))
    base = np.empty((h, w, 3), np.float32)
    base[:] = rng.uniform(120, 230, 3)  # wall colour
    base[horizon + 1:] = rng.uniform(60, 160, 3)  # floor colour
    # 1-3 boxes in front of the wall, standing on the floor
    for _ in range(int(rng.integers(1, 4))):
        bw = int(rng.uniform(0.15, 0.35) * w)
        bh = int(rng.uniform(0.2, 0.45) * h)
        x0 = int(rng.integers(0, w - bw))
        bottom = int(rng.integers(horizon + 2, h))
        top = max(0, bottom - bh)
        d = float(rng.uniform(0.8, min(wall, 1.2 * h / (bottom - horizon))))
        depth[top:bottom, x0:x0 + bw] = np.minimum(
            depth[top:bottom, x0:x0 + bw], d)
        base[top:bottom, x0:x0 + bw] = rng.uniform(30, 255, 3)
    # texture + distance shading
    yy, xx = np.mgrid[0:h, 0:w]
    texture = 1 + 0.08 * np.sin(xx * rng.uniform(0.3, 1.2)) * np.cos(
        yy * rng.uniform(0.3, 1.2))
    shade = 1.25 - 0.09 * depth
    img = base * (texture * shade)[..., None]
    img += rng.normal(0, 4, img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    # a few missing-depth holes
    for _ in range(int(rng.integers(1, 4))):
        y, x = int(rng.integers(0, h - 3)), int(rng.integers(0, w - 3))
        depth[y:y + 3, x:x + 3] = 0
    return img, np.clip(depth, 0, MAX_DEPTH)


def make_mini_nyu(out_dir, num_train=8, num_test=3, height=72, width=96,
                  seed=0):
    """Write the set under ``out_dir/nyu``; returns that root."""
    root = osp.join(out_dir, 'nyu')
    rng = np.random.default_rng(seed)
    for split, num in (('train', num_train), ('test', num_test)):
        img_dir = osp.join(root, 'images', split)
        ann_dir = osp.join(root, 'annotations', split)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        for i in range(num):
            img, depth = make_sample(rng, height, width)
            name = f'{SCENES[i % len(SCENES)]}_{i + 1:04d}'
            cv2.imwrite(osp.join(img_dir, name + '.jpg'), img,
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
            write_depth(osp.join(ann_dir, name + '.png'), depth, 1000)
    return root


def main(argv=None):
    generator_main(make_mini_nyu, 'nyu/ goes here', argv)


if __name__ == '__main__':
    main()
