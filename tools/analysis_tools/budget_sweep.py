# Copyright (c) veca_mm contributors. Apache-2.0.
"""Evaluate one checkpoint at many core budgets: what each budget buys/costs.

For each budget (or per-stage schedule) runs the config's own test loop,
whatever its evaluator (mIoU, depth RMSE, COCO mAP), and times the backbone
and the whole model on one test batch. Writes ``budget_sweep.{csv,json,png}``
into the work dir.

    python tools/analysis_tools/budget_sweep.py CONFIG CHECKPOINT \
        [--budgets 8 16 32 64] [--stage-budgets 64,32,16,8 ...]
"""
import argparse
import csv
import json
import numbers
import os
import os.path as osp
import statistics
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import veca_mm  # noqa: E402,F401

PRIMARY = ('mIoU', 'rmse', 'coco/segm_mAP', 'coco/bbox_mAP', 'abs_rel')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--budgets', type=int, nargs='*', default=None,
                   help='uniform budgets (default: every chunk multiple)')
    p.add_argument('--stage-budgets', nargs='*', default=[],
                   help='per-stage schedules, e.g. 64,32,16,8')
    p.add_argument('--work-dir', default=None)
    p.add_argument('--metric', default=None,
                   help='metric to plot (default: the first of '
                   f'{PRIMARY} present)')
    p.add_argument('--repeats', type=int, default=3,
                   help='timed repeats per budget')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    return p.parse_args(argv)


def budget_list(args, backbone_cfg):
    """Budgets to sweep, each validated up front (a weightless build)."""
    from veca_mm.models.backbones.veca import VECA, resolve_arch
    arch = resolve_arch(backbone_cfg.get('arch', 'base'))
    chunk = backbone_cfg.get('core_chunk', 8)
    budgets = args.budgets or list(range(chunk, arch['num_cores'] + 1,
                                         chunk))
    schedules = [(b, ) for b in budgets]
    for s in args.stage_budgets:
        try:
            schedules.append(tuple(int(v) for v in s.split(',')))
        except ValueError:
            raise SystemExit(f'--stage-budgets {s!r}: use comma-separated '
                             'ints such as 64,32,16,8')
    kwargs = {k: v for k, v in backbone_cfg.items() if k != 'type'}
    kwargs['init_cfg'] = None
    for s in schedules:
        with torch.device('meta'):
            VECA(**dict(kwargs, core_budgets=s))  # raises on a bad budget
    return schedules


def time_model(runner, repeats):
    """Median seconds of backbone and whole-model inference on one batch."""
    model = runner.model
    model.eval()
    batch = next(iter(runner.test_dataloader))
    data = model.data_preprocessor(batch, False)
    inputs = data['inputs']
    times = dict(backbone=[], model=[])
    with torch.inference_mode():
        model.test_step(batch)  # warm-up
        for _ in range(repeats):
            t0 = time.perf_counter()
            model.backbone(inputs)
            times['backbone'].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            model.test_step(batch)
            times['model'].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}, tuple(
        inputs.shape[-2:])


def plot(rows, metric, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    uni = [r for r in rows if len(r['budgets']) == 1]
    per = [r for r in rows if len(r['budgets']) > 1]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, label in ((axes[0], metric, metric),
                           (axes[1], 'model_ms', 'whole model ms'),):
        ax.plot([r['budgets'][0] for r in uni], [r[key] for r in uni], 'o-',
                label='uniform budget')
        for r in per:
            ax.scatter([sum(r['budgets']) / len(r['budgets'])], [r[key]],
                       marker='s', label='/'.join(map(str, r['budgets'])))
        ax.set_xlabel('core budget C (mean over stages for schedules)')
        ax.set_ylabel(label)
        ax.grid(alpha=.3)
    axes[1].plot([r['budgets'][0] for r in uni],
                 [r['backbone_ms'] for r in uni], 'x--', label='backbone ms')
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=7)
    fig.suptitle(f'{metric} and latency vs core budget')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if 'backbone' not in cfg.model or cfg.model.backbone.get(
            'type') != 'VECA':
        raise SystemExit(f'{args.config}: model.backbone is not VECA; '
                         'nothing to sweep.')
    work_dir = args.work_dir or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0],
        'budget_sweep')
    os.makedirs(work_dir, exist_ok=True)
    schedules = budget_list(args, cfg.model.backbone)
    rows = []
    for i, budgets in enumerate(schedules):
        print(f'[{i + 1}/{len(schedules)}] core budgets {budgets}',
              flush=True)
        run_cfg = cfg.copy()
        run_cfg.model.backbone.core_budgets = budgets if len(
            budgets) > 1 else budgets[0]
        run_cfg.load_from = args.checkpoint
        run_cfg.work_dir = osp.join(work_dir, 'runs')
        run_cfg.log_level = 'WARNING'
        run_cfg.default_hooks = run_cfg.get('default_hooks', {})
        run_cfg.default_hooks.pop('visualization', None)
        runner = Runner.from_cfg(run_cfg)
        metrics = runner.test()
        timing, size = time_model(runner, args.repeats)
        row = dict(budgets=list(budgets), input_hw=list(size),
                   backbone_ms=timing['backbone'] * 1e3,
                   model_ms=timing['model'] * 1e3)
        row.update({k: float(v) for k, v in metrics.items()
                    if isinstance(v, numbers.Real)})
        rows.append(row)
        print('   ' + ', '.join(f'{k}={v:.4g}' if isinstance(v, float) else
                                f'{k}={v}' for k, v in row.items()),
              flush=True)
    metric_keys = [k for k in rows[0] if k not in (
        'budgets', 'input_hw', 'backbone_ms', 'model_ms')]
    if not metric_keys:
        raise SystemExit('the test loop returned no numeric metric')
    metric = args.metric or next((m for m in PRIMARY if m in metric_keys),
                                 metric_keys[0])
    keys = list(rows[0])
    with open(osp.join(work_dir, 'budget_sweep.csv'), 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow(dict(r, budgets='/'.join(map(str, r['budgets'])),
                            input_hw='x'.join(map(str, r['input_hw']))))
    with open(osp.join(work_dir, 'budget_sweep.json'), 'w') as f:
        json.dump(dict(config=args.config, checkpoint=args.checkpoint,
                       metric=metric, rows=rows), f, indent=2)
    plot(rows, metric, osp.join(work_dir, 'budget_sweep.png'))
    print(f'\n| budgets | {metric} | backbone ms | model ms |')
    print('|---|---:|---:|---:|')
    for r in rows:
        print(f'| {"/".join(map(str, r["budgets"]))} | {r[metric]:.3f} | '
              f'{r["backbone_ms"]:.1f} | {r["model_ms"]:.1f} |')
    print(f'wrote {work_dir}/budget_sweep.{{csv,json,png}}')
    return rows


if __name__ == '__main__':
    main()
