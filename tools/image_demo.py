# Copyright (c) veca_mm contributors. Apache-2.0.
"""Run a trained checkpoint on your own images (one file or a folder).

    python tools/image_demo.py IMG_OR_DIR CONFIG CHECKPOINT
        [--core-budgets C [C ...]] [--out-dir DIR] [--device cpu]
        [--opacity 0.5] [--score-thr 0.3]

The task follows the config, and mmseg's / mmdet's own inferencers and
visualizers do the work:

* semantic segmentation (mmseg ``EncoderDecoder``): ``DIR/vis/NAME`` (the
  input's name and extension), the coloured class overlay (``--opacity``),
  and ``DIR/pred/NAME.png``, the class index map;
* depth (mmseg ``DepthEstimator``): ``DIR/vis/NAME``, the image above its
  coloured depth map (mmseg's visualizer), and ``DIR/pred/NAME.png``, a
  16-bit PNG in the dataset's own scale (``depth / depth_rescale_factor`` of
  the config's ``LoadDepthAnnotation``: millimetres for NYU, metres x 256 for
  KITTI; 0 = invalid);
* detection / instance segmentation (mmdet): ``DIR/vis/NAME`` with the boxes
  and masks scoring at least ``--score-thr``, and ``DIR/preds/NAME.json``.

Predictions have the input image's size. ``--core-budgets 16`` runs the VECA
backbone with 16 cores in every stage, ``--core-budgets 32 16`` one budget
per stage (as ``tools/test.py``); one checkpoint serves every budget.
"""
import argparse
import os
import os.path as osp

import numpy as np

import veca_mm  # noqa: F401  (registers the VECA backbone and neck)
from veca_mm.utils.cli import (check_checkpoint_fits, check_device,
                               check_output_dir, load_config, number_type,
                               user_input_errors)
from veca_mm.utils.core_budgets import (add_core_budgets_argument,
                                        apply_core_budgets)

TOOL = 'image_demo.py'

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Segmentation, depth or detection on your own images')
    parser.add_argument('img', help='an image file or a folder of images')
    parser.add_argument('config', help='config file of the checkpoint')
    parser.add_argument('checkpoint', help='checkpoint file')
    add_core_budgets_argument(parser)
    parser.add_argument('--out-dir', default='demo_out',
                        help='where vis/ and pred/ (preds/ for mmdet) go')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument('--opacity', type=number_type(lo=0, hi=1),
                        default=0.5,
                        help='segmentation: opacity of the class overlay, '
                        'in [0, 1]')
    parser.add_argument('--score-thr', type=number_type(lo=0, hi=1),
                        default=0.3,
                        help='detection: boxes and masks scoring below are '
                        'not drawn, in [0, 1]')
    return parser.parse_args(argv)


def list_images(path):
    """One image, or the images of a folder (recursively, sorted); each
    one's header is read (not its pixels), so a file that is not an image
    is refused before the model is built."""
    if osp.isfile(path):
        found = [path]
    elif not osp.isdir(path):
        raise FileNotFoundError(f'{path!r} is neither an image file nor a '
                                'folder')
    else:
        found = sorted(
            osp.join(d, f) for d, _, files in os.walk(path) for f in files
            if f.lower().endswith(IMG_EXTENSIONS))
        if not found:
            raise FileNotFoundError(f'no image ({", ".join(IMG_EXTENSIONS)})'
                                    f' under {path!r}')
    for image in found:
        check_image(image)
    return found


def check_image(path):
    """``path``'s header is an image's (PIL identifies it)."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            w, h = im.size
    except (OSError, ValueError, SyntaxError) as e:
        raise ValueError(f'{path!r} is not an image that can be read '
                         f'({type(e).__name__})') from None
    if not w or not h:
        raise ValueError(f'{path!r} is an empty image ({w}x{h})')


def task_of(cfg):
    """'det', 'depth' or 'seg', from the config's scope and model type."""
    if cfg.get('default_scope', None) == 'mmdet':
        return 'det'
    return 'depth' if cfg.model.get('type') == 'DepthEstimator' else 'seg'


def load_cfg(config, core_budgets=None):
    """The config, at ``--core-budgets`` when given."""
    return apply_core_budgets(load_config(config), core_budgets)


def depth_scale(cfg):
    """``depth_rescale_factor`` of the config's depth loading step, so the
    16-bit PNG uses the dataset's own units (1e-3 when none is given)."""
    loader = cfg.get('test_dataloader', None) or {}
    pipelines = [loader.get('dataset', {}).get('pipeline', None),
                 cfg.get('test_pipeline', None)]
    for pipeline in pipelines:
        for step in pipeline or []:
            if step.get('type') == 'LoadDepthAnnotation':
                return float(step.get('depth_rescale_factor', 1e-3))
    return 1e-3


def build_inferencer(cfg, checkpoint, device):
    """mmseg's ``MMSegInferencer`` or mmdet's ``DetInferencer``."""
    if task_of(cfg) == 'det':
        from mmdet.apis import DetInferencer
        return DetInferencer(model=cfg, weights=checkpoint, device=device,
                             show_progress=False)
    from mmseg.apis import MMSegInferencer
    inferencer = MMSegInferencer(model=cfg, weights=checkpoint, device=device)
    inferencer.show_progress = False  # one bar, over the folder, below
    return inferencer


def save_depth_png(depth, path, scale):
    """16-bit PNG in the dataset's units (``depth / scale``), 0 = invalid."""
    values = np.nan_to_num(depth / scale, nan=0., posinf=0., neginf=0.)
    if values.max(initial=0) > 65535:
        raise ValueError(
            f'depth up to {float(depth.max()):.1f} m does not fit a 16-bit '
            f'PNG at depth_rescale_factor={scale}; use a coarser factor')
    _imwrite(np.round(np.clip(values, 0, 65535)).astype(np.uint16), path)


def _imwrite(array, path):
    import mmcv
    if not mmcv.imwrite(array, path):
        raise OSError(f'could not write {path}')


def prepare(args):
    """(images, config, inferencer): every input checked, then the model
    built and the checkpoint loaded; bad input is one line, exit 1."""
    with user_input_errors(TOOL):
        images = list_images(args.img)
        cfg = load_cfg(args.config, args.core_budgets)
        check_checkpoint_fits(cfg, args.checkpoint, 'checkpoint')
        check_device(args.device, '--device')
        check_output_dir(args.out_dir, '--out-dir')
        inferencer = build_inferencer(cfg, args.checkpoint, args.device)
    return images, cfg, inferencer


def run(args):
    from mmengine.utils import track_iter_progress

    images, cfg, inferencer = prepare(args)
    task = task_of(cfg)
    pred_dir = osp.join(args.out_dir, 'preds' if task == 'det' else 'pred')
    os.makedirs(pred_dir, exist_ok=True)
    scale = depth_scale(cfg)
    for path in track_iter_progress(images):
        if task == 'det':  # mmdet writes vis/NAME and preds/NAME.json
            inferencer(path, out_dir=args.out_dir,
                       pred_score_thr=args.score_thr, no_save_pred=False)
            continue
        # mmseg's visualizer writes vis/NAME: the class overlay, or the image
        # above its coloured depth map
        sample = inferencer(path, return_datasamples=True,
                            out_dir=args.out_dir, img_out_dir='vis',
                            opacity=args.opacity)
        out = osp.join(pred_dir,
                       osp.splitext(osp.basename(path))[0] + '.png')
        if task == 'seg':
            labels = sample.pred_sem_seg.data[0].cpu().numpy()
            _imwrite(labels.astype(np.uint8 if labels.max(initial=0) < 256
                                   else np.uint16), out)
        else:
            depth = sample.pred_depth_map.data[0].float().cpu().numpy()
            save_depth_png(depth, out, scale)
    print(f'{len(images)} image(s) -> {args.out_dir}/vis, {pred_dir}')
    return images


def main(argv=None):
    return run(parse_args(argv))


if __name__ == '__main__':
    main()
