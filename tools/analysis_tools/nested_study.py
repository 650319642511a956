# Copyright (c) veca_mm contributors. Apache-2.0.
"""Does nested fine-tuning keep VECA elastic? A CPU miniature.

Fine-tunes the same small model on the mini segmentation set twice,
(a) at one fixed budget equal to its bank size and (b) with nested budgets
(``train_core_budgets``), then sweeps both over every budget with
``budget_sweep.py`` and writes a table (markdown + JSON) and a plot.

``--task hard`` runs it on the harder set of
``make_mini_ade20k_hard.py`` (26 classes, small/thin objects, scene-dependent
classes, ~576 patch tokens per test image), where the plain set is too easy
to tell the two apart. A variant whose work dir already holds a trained run
is retrained (the run is announced) unless ``--reuse`` is given; a reused run
must have been trained with the same config and iterations.

    python tools/analysis_tools/nested_study.py [--task mini|hard] \
        [--iters 600] [--work-dir DIR] [--reuse]
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TASKS = {
    'mini': ('upernet_veca-t_1xb4-600_mini-ade20k-96x96.py',
             'make_mini_ade20k.py', 'mini_ade20k'),
    'hard': ('upernet_veca-t_1xb4-800_mini-ade20k-hard-128x128.py',
             'make_mini_ade20k_hard.py', 'mini_ade20k_hard'),
}


def run(cmd):
    print('$ ' + ' '.join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def trained_before(wd, setting, reuse, name):
    """Whether to reuse the run in ``wd``; says which way it goes."""
    marker = osp.join(wd, 'last_checkpoint')
    if not osp.isfile(marker):
        return False
    with open(marker) as f:
        ckpt = f.read().strip()
    if not reuse:
        print(f'[{name}] {wd} already holds a run ({ckpt}); training a '
              'fresh one over it (pass --reuse to sweep the old run '
              'instead).', flush=True)
        return False
    path = osp.join(wd, 'study_setting.json')
    old = None
    if osp.isfile(path):
        with open(path) as f:
            old = json.load(f)
    if old != setting:
        raise SystemExit(
            f'[{name}] --reuse: the run in {wd} was trained with '
            f'{old or "unknown settings (no study_setting.json)"}, not '
            f'{setting}; drop --reuse to retrain it, or point --work-dir '
            'elsewhere.')
    print(f'[{name}] reusing the run in {wd} ({ckpt}), trained with the '
          'same settings (--reuse).', flush=True)
    return True


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--task', choices=sorted(TASKS), default='mini')
    p.add_argument('--config', default=None,
                   help='default: the task\'s config')
    p.add_argument('--data-root', default=None,
                   help='default: data/<task set>')
    p.add_argument('--work-dir', default=None,
                   help='default: work_dirs/nested_study[_hard]')
    p.add_argument('--iters', type=int, default=None)
    p.add_argument('--variants', nargs='+', choices=('fixed', 'nested'),
                   default=['fixed', 'nested'],
                   help='train/sweep only these (e.g. one per machine, '
                   'then a final --reuse run for the table)')
    p.add_argument('--reuse', action='store_true',
                   help='sweep runs already trained in the work dir '
                   'instead of retraining them')
    args = p.parse_args(argv)
    cfg_name, _, data_name = TASKS[args.task]
    args.config = args.config or osp.join(ROOT, 'configs', 'mini', cfg_name)
    args.data_root = args.data_root or osp.join(ROOT, 'data', data_name)
    args.work_dir = args.work_dir or osp.join(
        ROOT, 'work_dirs',
        'nested_study' + ('' if args.task == 'mini' else f'_{args.task}'))
    return args


def iteration_options(iters):
    """--cfg-options for a shorter (or longer) schedule."""
    if not iters:
        return []
    return [f'train_cfg.max_iters={iters}',
            f'train_cfg.val_interval={iters}',
            f'default_hooks.checkpoint.interval={iters}',
            f'param_scheduler.1.end={iters}']


def train_and_sweep(args, name, opts, ade_root):
    """Train one variant (unless a matching run is reused), sweep its last
    checkpoint over the budgets; returns ``{budget: mIoU}``."""
    py = sys.executable
    wd = osp.join(args.work_dir, name)
    data = [f'{k}_dataloader.dataset.data_root={ade_root}'
            for k in ('train', 'val', 'test')]
    setting = dict(config=osp.abspath(args.config), iters=args.iters,
                   data_root=osp.abspath(ade_root), options=opts)
    if not trained_before(wd, setting, args.reuse, name):
        stale = osp.join(wd, 'study_setting.json')
        if osp.isfile(stale):  # written again once this run finishes
            os.remove(stale)
        run([py, osp.join(ROOT, 'tools', 'train.py'), args.config,
             '--work-dir', wd, '--cfg-options'] + data +
            iteration_options(args.iters) + opts)
        with open(osp.join(wd, 'study_setting.json'), 'w') as f:
            json.dump(setting, f, indent=2)
    with open(osp.join(wd, 'last_checkpoint')) as f:
        ckpt = f.read().strip()
    sweep_json = osp.join(wd, 'sweep', 'budget_sweep.json')
    swept = False
    if osp.isfile(sweep_json):  # a sweep of this very checkpoint
        with open(sweep_json) as f:
            swept = json.load(f).get('checkpoint') == ckpt and \
                osp.getmtime(sweep_json) > osp.getmtime(ckpt)
    if args.reuse and swept:
        print(f'[{name}] reusing its sweep {sweep_json}', flush=True)
    else:
        run([py, osp.join(ROOT, 'tools', 'analysis_tools',
                          'budget_sweep.py'),
             args.config, ckpt, '--work-dir', osp.join(wd, 'sweep'),
             '--repeats', '1', '--cfg-options'] + data)
    with open(sweep_json) as f:
        return {r['budgets'][0]: r['mIoU'] for r in json.load(f)['rows']}


def write_table(args, sweeps) -> list:
    """The markdown table (printed, and as .md and .json); the budgets."""
    budgets = sorted(next(iter(sweeps.values())))
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
    return budgets


def plot(args, sweeps, budgets) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, row in sweeps.items():
        ax.plot(budgets, [row[b] for b in budgets], 'o-',
                label=f'{name} fine-tuning')
    ax.set_xlabel('core budget C at test time')
    ax.set_ylabel(f'mIoU ({args.task} mini ADE20K val)')
    ax.grid(alpha=.3)
    ax.legend()
    fig.tight_layout()
    png = osp.join(args.work_dir, 'nested_study.png')
    fig.savefig(png, dpi=100)
    print(f'wrote {png}')


def main(argv=None):
    args = parse_args(argv)
    ade_root = osp.join(args.data_root, 'ADEChallengeData2016')
    if not osp.isdir(osp.join(ade_root, 'annotations', 'validation')):
        run([sys.executable, osp.join(ROOT, 'tools', 'dataset_converters',
                                      TASKS[args.task][1]), args.data_root])
    variants = {
        'fixed': ['model.backbone.train_core_budgets=None'],
        'nested': [],  # the config's train_core_budgets
    }
    sweeps = {name: train_and_sweep(args, name, opts, ade_root)
              for name, opts in variants.items() if name in args.variants}
    plot(args, sweeps, write_table(args, sweeps))


if __name__ == '__main__':
    main()
