# Copyright (c) veca_mm contributors. Apache-2.0.
"""Generate a tiny synthetic KITTI depth set (Eigen-split layout).

    python tools/dataset_converters/make_mini_kitti.py OUT_DIR \
        [--num-train 8] [--num-test 3] [--height 30] [--width 94] [--seed 0]

writes (the layout BTS / AdaBins / the Monocular-Depth-Estimation-Toolbox
use, read by ``veca_mm.datasets.KITTIDepthDataset``)::

    OUT_DIR/kitti/
        eigen_train_files_with_gt.txt
        eigen_test_files_with_gt.txt
        input/<date>/<date>_drive_<NNNN>_sync/image_02/data/<frame>.png
        gt_depth/<date>_drive_<NNNN>_sync/proj_depth/groundtruth/image_02/
            <frame>.png

Split lines are ``RGB_PATH GT_PATH FOCAL``. Ground truth is 16-bit PNG,
metres = value / 256, and sparse like projected LiDAR: only about 6 % of the
pixels below the LiDAR's upper field of view carry a value, everything else
(sky included) is 0; a few far road points exceed 80 m. The test split ends
with one extra frame whose GT_PATH is ``None`` (its image exists, its ground
truth does not), as in the real Eigen test file. Frame numbers repeat across
drives, as in KITTI. Image sizes jitter by up to 2 pixels around
``--height x --width``. Deterministic from ``--seed``.

The default size is just under the mini configs' 32 x 96 crop, so a test
frame pads by at most a few pixels on its way to a multiple of 32, as a
real 375 x 1242 frame pads to 384 x 1248. At the former 40 x 132 a test
frame padded to 64 x 160 (more than a third of it padding), and a tiny
model trained on unpadded crops lost its depth scale on it: rmse and
abs_rel beat the mean-depth predictor in some seeds only (issue 29).
"""
import os
import os.path as osp

import cv2
import numpy as np

from veca_mm.utils.mini_data import generator_main, write_depth

DATE = '2011_09_26'
FOCAL = 721.5377
LIDAR_DENSITY = 0.06


def drive_name(k):
    return f'{DATE}_drive_{k:04d}_sync'


def make_sample(rng, height, width):
    """One (BGR uint8 image, dense float32 depth, sparse float32 GT)."""
    h = height + int(rng.integers(-2, 3))
    w = width + int(rng.integers(-2, 3))
    rows = np.arange(h, dtype=np.float32)[:, None]
    horizon = int(rng.uniform(0.35, 0.45) * h)
    depth = np.zeros((h, w), np.float32)  # 0 = sky
    below = np.maximum(rows[horizon + 1:] - horizon, 0.25)
    road = (1.65 * 2.2 * h / below).astype(np.float32)  # grows to ~100 m
    depth[horizon + 1:] = np.broadcast_to(road, (h - horizon - 1, w))
    img = np.empty((h, w, 3), np.float32)
    img[:horizon + 1] = (235, 190, 140)  # sky (BGR)
    img[horizon + 1:] = (95, 90, 88)  # road
    # 1-3 cars standing on the road
    for _ in range(int(rng.integers(1, 4))):
        bottom = int(rng.integers(horizon + 3, h))
        d = float(1.65 * 2.2 * h / (bottom - horizon))
        ch = max(2, int(1.5 * 2.2 * h / d))
        cw = max(3, int(1.8 * 2.2 * h / d * 1.4))
        x0 = int(rng.integers(0, max(1, w - cw)))
        depth[max(0, bottom - ch):bottom, x0:x0 + cw] = d
        img[max(0, bottom - ch):bottom, x0:x0 + cw] = rng.uniform(20, 250, 3)
    yy, xx = np.mgrid[0:h, 0:w]
    shade = np.where(depth > 0, 1.2 - 0.006 * np.minimum(depth, 90), 1.0)
    img = img * (shade * (1 + 0.06 * np.sin(xx * 0.9 + yy * 0.4)))[..., None]
    img = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
    # sparse "LiDAR": random points below the LiDAR's upper field of view
    lidar_top = max(0, horizon - 1)
    hits = rng.random((h, w)) < LIDAR_DENSITY
    hits[:lidar_top] = False
    gt = np.where(hits & (depth > 0), depth, 0).astype(np.float32)
    return img, depth, np.minimum(gt, 255.0)


def make_mini_kitti(out_dir, num_train=8, num_test=3, height=30, width=94,
                    seed=0):
    """Write the set under ``out_dir/kitti``; returns that root."""
    root = osp.join(out_dir, 'kitti')
    rng = np.random.default_rng(seed)

    def write(drive, frame, with_gt=True):
        img, _, gt = make_sample(rng, height, width)
        rgb_rel = f'{DATE}/{drive}/image_02/data/{frame:010d}.png'
        gt_rel = f'{drive}/proj_depth/groundtruth/image_02/{frame:010d}.png'
        rgb_path = osp.join(root, 'input', rgb_rel)
        os.makedirs(osp.dirname(rgb_path), exist_ok=True)
        cv2.imwrite(rgb_path, img)
        if not with_gt:
            return f'{rgb_rel} None {FOCAL}'
        write_depth(osp.join(root, 'gt_depth', gt_rel), gt, 256)
        return f'{rgb_rel} {gt_rel} {FOCAL}'

    # train frames from drives 1 and 9, test frames from drives 2 and 5;
    # frame numbers repeat across drives.
    train = [write(drive_name((1, 9)[i % 2]), 5 + i // 2)
             for i in range(num_train)]
    test = [write(drive_name((2, 5)[i % 2]), 69 + i // 2)
            for i in range(num_test)]
    test.append(write(drive_name(2), 900, with_gt=False))
    for name, lines in (('train', train), ('test', test)):
        with open(osp.join(root, f'eigen_{name}_files_with_gt.txt'),
                  'w') as f:
            f.write('\n'.join(lines) + '\n')
    return root


def main(argv=None):
    generator_main(make_mini_kitti, 'kitti/ goes here', argv)


if __name__ == '__main__':
    main()
