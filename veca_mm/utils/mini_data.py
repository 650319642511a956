# Copyright (c) veca_mm contributors. Apache-2.0.
"""What the mini dataset generators (``tools/dataset_converters/
make_mini_*.py``) share: drawing, writing, and their command line.

Every class gets a base colour and a texture; an image is painted layer by
layer (``paint``) while the label map is filled with the same masks, so the
pixels and the labels can never disagree. Each layer gets its own brightness
and colour jitter, and the whole image gets pixel noise at the end, so the
task is not a plain colour lookup, but a small network learns it quickly.

Everything is driven by a ``numpy.random.Generator``: same seed, same bytes.
"""
import argparse
import glob
import inspect
import os
import os.path as osp

import cv2
import numpy as np

# The mini COCO "thing" categories: COCO id -> (name, RGB colour); the
# shape is the category (``shape_polygon``).
SHAPE_CATEGORIES = {
    1: ('circle', (220, 60, 50)),
    2: ('square', (50, 170, 70)),
    3: ('triangle', (60, 90, 220)),
}
# (split, ADE20K folder)
ADE_SPLITS = (('train', 'training'), ('val', 'validation'))

# the help of the ``--size`` option of the generators with jittered sizes
SIZE_HELP = dict(size='nominal side; each side is 0.8x..1.2x of it')

TEXTURES = ('flat', 'stripes_h', 'stripes_v', 'stripes_d', 'checker', 'grid',
            'dots', 'blobs')


def image_rng(seed, split, index):
    """An independent generator per (seed, split, image): adding training
    images never changes the validation images."""
    split_id = {'train': 0, 'val': 1}[split]
    return np.random.default_rng([int(seed), split_id, int(index)])


def jittered_size(rng, base, low=0.8, high=1.2, avoid=16):
    """An int in [low*base, high*base] that is not a multiple of ``avoid``
    (so the data preprocessor's padding is exercised)."""
    size = int(round(base * rng.uniform(low, high)))
    if avoid and size % avoid == 0:
        size += 1
    return max(size, 8)


def texture(kind, h, w, rng, period=None):
    """A (h, w) float32 pattern in about [-1, 1] with a random phase."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    period = float(period or rng.uniform(5.0, 9.0))
    phase = rng.uniform(0, 2 * np.pi)
    if kind == 'flat':
        return np.zeros((h, w), np.float32)
    if kind == 'stripes_h':
        return np.sin(2 * np.pi * yy / period + phase)
    if kind == 'stripes_v':
        return np.sin(2 * np.pi * xx / period + phase)
    if kind == 'stripes_d':
        return np.sin(2 * np.pi * (xx + yy) / (period * 1.41) + phase)
    if kind == 'checker':
        ox, oy = rng.integers(0, int(period) * 2, size=2)
        cells = ((xx + ox) // period + (yy + oy) // period) % 2
        return (cells * 2 - 1).astype(np.float32)
    if kind == 'grid':
        ox, oy = rng.integers(0, int(period) + 1, size=2)
        lines = (((xx + ox) % (period + 2)) < 2) | (((yy + oy) %
                                                     (period + 2)) < 2)
        return np.where(lines, -1.0, 0.4).astype(np.float32)
    if kind == 'dots':
        pattern = np.full((h, w), -0.3, np.float32)
        n = max(1, int(h * w / (period * period * 2)))
        ys = rng.integers(0, h, size=n)
        xs = rng.integers(0, w, size=n)
        pattern[ys, xs] = 1.0
        return cv2.dilate(pattern, np.ones((2, 2), np.uint8))
    if kind == 'blobs':
        small = rng.standard_normal((max(2, h // 6), max(2, w // 6)))
        big = cv2.resize(small.astype(np.float32), (w, h),
                         interpolation=cv2.INTER_CUBIC)
        return np.clip(big, -1.5, 1.5) / 1.5
    raise ValueError(f'unknown texture {kind!r}')


def paint(img, mask, color, kind, rng, amplitude=0.25, color_jitter=12,
          brightness=(0.85, 1.15), period=None):
    """Paint ``mask`` of the float (h, w, 3) ``img`` with a jittered,
    textured version of ``color`` (RGB)."""
    h, w = mask.shape
    if not mask.any():
        return
    base = np.asarray(color, np.float32) + rng.uniform(
        -color_jitter, color_jitter, size=3)
    base = base * rng.uniform(*brightness)
    pattern = texture(kind, h, w, rng, period)[..., None]
    layer = base[None, None] * (1.0 + amplitude * pattern)
    img[mask] = layer[mask]


def finish(img, rng, noise_std=8.0, brightness=(0.9, 1.1)):
    """Global brightness jitter + pixel noise, to uint8 RGB."""
    img = img * rng.uniform(*brightness)
    img = img + rng.normal(0.0, noise_std, size=img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def rect_mask(h, w, x0, y0, x1, y1):
    mask = np.zeros((h, w), np.uint8)
    cv2.rectangle(mask, (int(x0), int(y0)), (int(x1), int(y1)), 1, -1)
    return mask.astype(bool)


def ellipse_mask(h, w, cx, cy, ax, ay, angle=0.0):
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (int(cx), int(cy)), (max(1, int(ax)), max(1, int(ay))),
                float(angle), 0, 360, 1, -1)
    return mask.astype(bool)


def poly_mask(h, w, points):
    mask = np.zeros((h, w), np.uint8)
    pts = np.round(np.asarray(points, np.float64)).astype(np.int32)
    cv2.fillPoly(mask, [pts.reshape(-1, 1, 2)], 1)
    return mask.astype(bool)


def ring(mask, width=1):
    """The ``width``-pixel band just outside ``mask``."""
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    grown = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)
    return grown & ~mask


def random_shape_mask(rng, h, w, min_frac=0.2, max_frac=0.55):
    """A rectangle, an ellipse or a triangle somewhere in an (h, w) image."""
    kind = rng.choice(['rect', 'ellipse', 'triangle'])
    sw = rng.uniform(min_frac, max_frac) * w
    sh = rng.uniform(min_frac, max_frac) * h
    cx = rng.uniform(0.1, 0.9) * w
    cy = rng.uniform(0.1, 0.9) * h
    if kind == 'rect':
        return rect_mask(h, w, cx - sw / 2, cy - sh / 2, cx + sw / 2,
                         cy + sh / 2)
    if kind == 'ellipse':
        return ellipse_mask(h, w, cx, cy, sw / 2, sh / 2,
                            rng.uniform(0, 180))
    pts = [(cx + rng.uniform(-0.6, 0.6) * sw, cy - sh / 2),
           (cx - sw / 2, cy + sh / 2), (cx + sw / 2, cy + sh / 2)]
    return poly_mask(h, w, pts)


def write_rgb(path, img, jpeg_quality=95):
    """Write an RGB uint8 image (JPEG or PNG by extension)."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    bgr = np.ascontiguousarray(img[..., ::-1])
    params = []
    if path.lower().endswith(('.jpg', '.jpeg')):
        params = [int(cv2.IMWRITE_JPEG_QUALITY), int(jpeg_quality)]
    if not cv2.imwrite(path, bgr, params):
        raise IOError(f'could not write {path}')


def write_label(path, label):
    """Write a single-channel uint8 label PNG."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    if not cv2.imwrite(path, np.ascontiguousarray(label.astype(np.uint8))):
        raise IOError(f'could not write {path}')


def write_depth(path, depth, scale):
    """Write ``depth`` (float metres) as a uint16 PNG of ``depth * scale``
    (KITTI: 256, NYUv2: 1000)."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    if not cv2.imwrite(path, np.round(depth * scale).astype(np.uint16)):
        raise IOError(f'could not write {path}')


def write_lists(folder, lists, pattern='{}.txt'):
    """Write each split's names, one a line, to ``folder/pattern`` (e.g.
    ``ImageSets/Segmentation/train.txt``); ``lists`` maps split -> names."""
    os.makedirs(folder, exist_ok=True)
    for split, names in lists.items():
        with open(osp.join(folder, pattern.format(split)), 'w') as f:
            f.write(''.join(n + '\n' for n in names))


def write_samples(make_sample, seed, split, num, paths):
    """Draw ``num`` (RGB image, label map) pairs of ``split``, image ``i``
    from ``make_sample(image_rng(seed, split, i))``, and write them to
    ``paths(i) -> (image path, label path)``; returns the labels'
    256-bin pixel counts."""
    counts = np.zeros(256, np.int64)
    for i in range(num):
        img, label = make_sample(image_rng(seed, split, i))
        img_path, label_path = paths(i)
        write_rgb(img_path, img)
        write_label(label_path, label)
        counts += np.bincount(label.ravel(), minlength=256)
    return counts


def read_label(path):
    label = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if label is None:
        raise IOError(f'could not read {path}')
    return label


def shape_polygon(rng, cat_id, cx, cy, r):
    """The outline of a ``SHAPE_CATEGORIES`` shape as an (N, 2) float array
    of (x, y): a circle (32-gon), a rotated square or a triangle."""
    angle = rng.uniform(0, 2 * np.pi)
    if cat_id == 1:  # circle, as a 32-gon
        t = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    elif cat_id == 2:  # square, rotated
        t = angle + np.arange(4) * np.pi / 2
    else:  # triangle
        t = angle + np.arange(3) * 2 * np.pi / 3
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)


def write_ade20k(out_dir, make_sample, nums, seed, classes, verbose=True):
    """Write ``ADEChallengeData2016/{images,annotations}/{training,
    validation}`` from ``make_sample(rng) -> (RGB image, raw label map)``,
    ``nums`` = (train, val) images; returns that directory (the
    ``data_root`` for mmseg's ``ADE20KDataset``). ``classes`` maps raw
    label values to tuples starting with the class name."""
    root = osp.join(out_dir, 'ADEChallengeData2016')
    for (split, folder), num in zip(ADE_SPLITS, nums):

        def paths(i, split=split, folder=folder):
            name = f'ADE_{split}_{i + 1:08d}'
            return (osp.join(root, 'images', folder, name + '.jpg'),
                    osp.join(root, 'annotations', folder, name + '.png'))

        counts = write_samples(make_sample, seed, split, num, paths)
        if verbose:
            print(f'{split}: {num} images -> {root}/images/{folder}, '
                  f'annotations/{folder}; {int((counts[1:] > 0).sum())} '
                  f'classes present: {pixel_shares(counts, classes, 0)}')
    return root


def ade20k_main(make, argv=None):
    """``generator_main`` for an ADE20K-layout generator (``make(OUT_DIR,
    ..., size=...)`` writes ``OUT_DIR/ADEChallengeData2016``), then the
    trivial (majority-class) mIoU of the set it wrote; returns its root."""
    root = generator_main(make, 'ADEChallengeData2016/ goes here', argv,
                          helps=SIZE_HELP)
    print(f'trivial (majority-class) mIoU on validation: '
          f'{trivial_miou(root):.2f}')
    return root


def pixel_shares(counts, classes, unlabelled):
    """``name(id) share%`` of every class present in the ``bincount``
    ``counts``, then the share of the ``unlabelled`` value."""
    total = max(counts.sum(), 1)
    present = ', '.join(f'{classes[c][0]}({c}) {100 * counts[c] / total:.1f}%'
                        for c in sorted(classes) if counts[c])
    return (f'{present}, unlabelled({unlabelled}) '
            f'{100 * counts[unlabelled] / total:.1f}%')


def trivial_miou(data_root):
    """mIoU (percent, mmseg ``IoUMetric`` style) on the validation split of
    an ADE20K-layout set of the predictor that outputs the most frequent
    training class everywhere.

    ``data_root`` is the ``ADEChallengeData2016`` directory (or its parent).
    Labels are reduced as mmseg does (raw 0 ignored, class ``c`` -> ``c-1``);
    as in ``IoUMetric``, the mean runs over classes whose union is non-empty.
    """
    sub = osp.join(data_root, 'ADEChallengeData2016')
    root = sub if osp.isdir(sub) else data_root

    def labels(folder):
        paths = sorted(
            glob.glob(osp.join(root, 'annotations', folder, '*.png')))
        if not paths:
            raise FileNotFoundError(
                f'no annotations in {osp.join(root, "annotations", folder)}')
        return [read_label(p) for p in paths]

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


def int_defaults(make, helps=None):
    """``make``'s int keyword defaults (after ``out_dir``), each with its
    help text from ``helps`` as a ``(default, help)`` pair where it has one:
    the generator's options, stated once, in its signature."""
    helps = helps or {}
    return {
        name: (p.default, helps[name]) if name in helps else p.default
        for name, p in inspect.signature(make).parameters.items()
        if type(p.default) is int
    }


def generator_parser(description, out_help, **defaults):
    """The generators' command line: ``OUT_DIR`` and one int option per
    keyword (``num_train=8`` -> ``--num-train``, default 8; a
    ``(default, help)`` pair adds a help text)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('out_dir', help=out_help)
    for name, value in defaults.items():
        default, help_ = value if isinstance(value, tuple) else (value, None)
        parser.add_argument('--' + name.replace('_', '-'), type=int,
                            default=default, help=help_)
    return parser


def generator_main(make, out_help, argv=None, helps=None, **defaults):
    """``generator_parser``'s options passed on as ``make(OUT_DIR,
    num_train=..., ...)``; says where the set went and returns what
    ``make`` returns. The description is the first line of ``make``'s
    module docstring; without ``defaults`` the options are ``make``'s int
    keywords (``int_defaults``; ``helps`` maps a keyword to its help)."""
    description = make.__globals__['__doc__'].splitlines()[0]
    defaults = defaults or int_defaults(make, helps)
    args = vars(generator_parser(description, out_help,
                                 **defaults).parse_args(argv))
    out = make(args.pop('out_dir'), **args)
    print(f'{make.__name__}: wrote {out}')
    return out
