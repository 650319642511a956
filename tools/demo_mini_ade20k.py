# Copyright (c) veca_mm contributors. Apache-2.0.
"""The README's main job: fine-tune a small VECA on a mini ADE20K end to end.

1. generates the mini ADE20K set (real ADEChallengeData2016 layout),
2. trains with ``tools/train.py`` (real mmseg dataset, pipeline, UPerHead,
   IoUMetric, checkpointing),
3. evaluates the one checkpoint at several core budgets (no retraining),
4. writes a PNG of predictions beside the images and prints the results next
   to a trivial predictor's mIoU.

    python tools/demo_mini_ade20k.py [--iters 800] [--work-dir DIR]
"""
import argparse
import glob
import json
import os.path as osp
import subprocess
import sys
import time

from veca_mm.utils.cli import load_config
from veca_mm.utils.core_budgets import apply_core_budgets
from veca_mm.utils.mini_data import trivial_miou

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'mini',
                  'upernet_veca-t_1xb4-600_mini-ade20k-96x96.py')


def evaluate_budgets(cfg_path, ckpt, budgets, work_dir):
    """mIoU/mAcc/aAcc of one checkpoint at each core budget."""
    from mmengine.runner import Runner

    results = {}
    for budget in budgets:
        cfg = apply_core_budgets(load_config(cfg_path), [budget],
                                 '--budgets')
        cfg.load_from = ckpt
        cfg.work_dir = osp.join(work_dir, f'eval_c{budget}')
        cfg.log_level = 'WARNING'
        metrics = Runner.from_cfg(cfg).test()
        results[budget] = {k: float(v) for k, v in metrics.items()}
        print(f'  C={budget:>3}: mIoU {metrics["mIoU"]:.2f}  '
              f'mAcc {metrics["mAcc"]:.2f}  aAcc {metrics["aAcc"]:.2f}',
              flush=True)
    return results


def save_predictions(cfg_path, ckpt, data_root, budgets, out_png, n=6):
    """image | ground truth | prediction at each budget, one row per image."""
    import cv2
    import numpy as np
    from mmseg.apis import inference_model, init_model
    from mmseg.datasets import ADE20KDataset

    from veca_mm.visualization import save_seg_grid

    model = init_model(load_config(cfg_path), ckpt, device='cpu')
    imgs = sorted(glob.glob(osp.join(data_root, 'images', 'validation',
                                     '*.jpg')))[:n]
    rows = []
    for img_path in imgs:
        ann_path = img_path.replace('images', 'annotations').replace(
            '.jpg', '.png')
        gt = cv2.imread(ann_path, cv2.IMREAD_UNCHANGED).astype(np.int64)
        gt = np.where(gt == 0, 255, gt - 1)  # reduce_zero_label
        row = dict(image=cv2.imread(img_path)[..., ::-1], gt=gt)
        for budget in budgets:
            model.backbone.set_core_budgets(budget)
            pred = inference_model(model, img_path).pred_sem_seg.data[0]
            row[f'C={budget}'] = pred.cpu().numpy()
        rows.append(row)
    columns = ['image', 'gt'] + [f'C={b}' for b in budgets]
    save_seg_grid(out_png, rows, columns, ADE20KDataset.METAINFO['palette'])


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=CONFIG)
    parser.add_argument('--data-root', default=osp.join(ROOT, 'data',
                                                        'mini_ade20k'))
    parser.add_argument('--work-dir',
                        default=osp.join(ROOT, 'work_dirs', 'demo_mini_ade20k'))
    parser.add_argument('--iters', type=int, default=None,
                        help='training iterations (default: the config\'s)')
    parser.add_argument('--budgets', type=int, nargs='+',
                        default=[8, 16, 24, 32])
    return parser.parse_args()


def train(args, ade_root):
    """tools/train.py as a command line; returns the last checkpoint and
    the training seconds."""
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'train.py'), args.config,
           '--work-dir', args.work_dir, '--cfg-options',
           f'train_dataloader.dataset.data_root={ade_root}',
           f'val_dataloader.dataset.data_root={ade_root}',
           f'test_dataloader.dataset.data_root={ade_root}']
    if args.iters:
        cmd += [f'train_cfg.max_iters={args.iters}',
                f'train_cfg.val_interval={args.iters}',
                f'default_hooks.checkpoint.interval={args.iters}',
                f'param_scheduler.1.end={args.iters}']
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT)
    with open(osp.join(args.work_dir, 'last_checkpoint')) as f:
        return f.read().strip(), time.perf_counter() - t0


def print_summary(results, trivial, train_s, total, png, work_dir) -> None:
    print('\n| core budget | mIoU | mAcc | aAcc |')
    print('|---:|---:|---:|---:|')
    for b, r in results.items():
        print(f'| {b} | {r["mIoU"]:.2f} | {r["mAcc"]:.2f} | {r["aAcc"]:.2f} |')
    print(f'\ntrivial predictor (most frequent class everywhere): mIoU '
          f'{trivial:.2f}')
    print(f'training {train_s / 60:.1f} min, whole job {total / 60:.1f} min')
    print(f'predictions: {png}')
    print(f'results: {osp.join(work_dir, "demo_results.json")}')


def main():
    args = parse_args()
    t_start = time.perf_counter()
    ade_root = osp.join(args.data_root, 'ADEChallengeData2016')
    print(f'[1/4] mini ADE20K in {ade_root}', flush=True)
    if not osp.isdir(osp.join(ade_root, 'annotations', 'validation')):
        subprocess.run([sys.executable, osp.join(
            ROOT, 'tools', 'dataset_converters', 'make_mini_ade20k.py'),
            args.data_root], check=True, cwd=ROOT)

    print('[2/4] fine-tuning (tools/train.py)', flush=True)
    ckpt, train_s = train(args, ade_root)

    print(f'[3/4] evaluating {osp.basename(ckpt)} at core budgets '
          f'{args.budgets}', flush=True)
    cfg = load_config(args.config, {
        f'{k}_dataloader.dataset.data_root': ade_root
        for k in ('train', 'val', 'test')})
    cfg_path = osp.join(args.work_dir, 'demo_config.py')
    cfg.dump(cfg_path)
    results = evaluate_budgets(cfg_path, ckpt, args.budgets, args.work_dir)
    trivial = trivial_miou(ade_root)

    print('[4/4] drawing predictions', flush=True)
    png = osp.join(ade_root, 'predictions_veca_demo.png')
    save_predictions(cfg_path, ckpt, ade_root,
                     [min(args.budgets), max(args.budgets)], png)

    total = time.perf_counter() - t_start
    summary = dict(config=osp.relpath(args.config, ROOT), checkpoint=ckpt,
                   train_seconds=round(train_s, 1),
                   total_seconds=round(total, 1), trivial_miou=float(trivial),
                   results={str(k): v for k, v in results.items()},
                   predictions_png=png)
    with open(osp.join(args.work_dir, 'demo_results.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    print_summary(results, trivial, train_s, total, png, args.work_dir)


if __name__ == '__main__':
    main()
