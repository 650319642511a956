# Copyright (c) veca_mm contributors. Apache-2.0.
"""Does nested fine-tuning keep VECA elastic? A CPU miniature.

Fine-tunes the same small model on the mini segmentation set twice,
(a) at one fixed budget equal to its bank size and (b) with nested budgets
(``train_core_budgets``), then sweeps both over every budget with
``budget_sweep.py`` and writes a table (markdown + JSON) and a plot.

    python tools/analysis_tools/nested_study.py [--iters 600] [--work-dir DIR]
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'configs', 'veca',
                  'upernet_veca-t_1xb4-600_mini-ade20k-96x96.py')


def run(cmd):
    print('$ ' + ' '.join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--config', default=CONFIG)
    p.add_argument('--data-root',
                   default=osp.join(ROOT, 'data', 'mini_ade20k'))
    p.add_argument('--work-dir',
                   default=osp.join(ROOT, 'work_dirs', 'nested_study'))
    p.add_argument('--iters', type=int, default=None)
    args = p.parse_args()
    py = sys.executable
    ade_root = osp.join(args.data_root, 'ADEChallengeData2016')
    if not osp.isdir(osp.join(ade_root, 'annotations', 'validation')):
        run([py, osp.join(ROOT, 'tools', 'dataset_converters',
                          'make_mini_ade20k.py'), args.data_root])
    data = [f'{k}_dataloader.dataset.data_root={ade_root}'
            for k in ('train', 'val', 'test')]
    iters = []
    if args.iters:
        iters = [f'train_cfg.max_iters={args.iters}',
                 f'train_cfg.val_interval={args.iters}',
                 f'default_hooks.checkpoint.interval={args.iters}',
                 f'param_scheduler.1.end={args.iters}']
    variants = {
        'fixed': ['model.backbone.train_core_budgets=None'],
        'nested': [],  # the config's train_core_budgets
    }
    sweeps = {}
    for name, opts in variants.items():
        wd = osp.join(args.work_dir, name)
        if not osp.isfile(osp.join(wd, 'last_checkpoint')):
            run([py, osp.join(ROOT, 'tools', 'train.py'), args.config,
                 '--work-dir', wd, '--cfg-options'] + data + iters + opts)
        with open(osp.join(wd, 'last_checkpoint')) as f:
            ckpt = f.read().strip()
        run([py, osp.join(ROOT, 'tools', 'analysis_tools', 'budget_sweep.py'),
             args.config, ckpt, '--work-dir', osp.join(wd, 'sweep'),
             '--repeats', '1', '--cfg-options'] + data)
        with open(osp.join(wd, 'sweep', 'budget_sweep.json')) as f:
            sweeps[name] = {r['budgets'][0]: r['mIoU']
                            for r in json.load(f)['rows']}

    budgets = sorted(sweeps['fixed'])
    lines = ['| training | ' + ' | '.join(f'C={b}' for b in budgets) +
             ' | smallest / full |',
             '|---|' + '---:|' * (len(budgets) + 1)]
    for name, row in sweeps.items():
        keep = row[budgets[0]] / max(row[budgets[-1]], 1e-9)
        lines.append(f'| {name} | ' +
                     ' | '.join(f'{row[b]:.1f}' for b in budgets) +
                     f' | {100 * keep:.0f} % |')
    table = '\n'.join(lines)
    print('\nmIoU at each core budget (same data, model and iterations)\n')
    print(table)
    os.makedirs(args.work_dir, exist_ok=True)
    with open(osp.join(args.work_dir, 'nested_study.json'), 'w') as f:
        json.dump({k: {str(b): v for b, v in r.items()}
                   for k, r in sweeps.items()}, f, indent=2)
    with open(osp.join(args.work_dir, 'nested_study.md'), 'w') as f:
        f.write(table + '\n')

    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, row in sweeps.items():
        ax.plot(budgets, [row[b] for b in budgets], 'o-',
                label=f'{name} fine-tuning')
    ax.set_xlabel('core budget C at test time')
    ax.set_ylabel('mIoU (mini ADE20K val)')
    ax.grid(alpha=.3)
    ax.legend()
    fig.tight_layout()
    png = osp.join(args.work_dir, 'nested_study.png')
    fig.savefig(png, dpi=100)
    print(f'wrote {png}')


if __name__ == '__main__':
    main()
