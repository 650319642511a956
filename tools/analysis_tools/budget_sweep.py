# Copyright (c) veca_mm contributors. Apache-2.0.
"""Evaluate one checkpoint at many core budgets: what each budget buys/costs.

For each budget (or per-stage schedule) runs the config's own test loop,
whatever its evaluator (mIoU, depth RMSE, COCO mAP), and times the backbone
and the whole model on one test batch. Writes ``budget_sweep.{csv,json,png}``
into the work dir.

    python tools/analysis_tools/budget_sweep.py CONFIG CHECKPOINT \
        [--budgets 8 16 32 64] [--stage-budgets 64,32,16,8 ...]

Several finished sweeps (e.g. one linear probe per task) on one plot, the
paper's Fig. 5(a) view, without running anything (``budget_sweep_runs.{csv,
png}``; the curves are each run's metric and, to share one axis, its
fraction of the full-bank value, inverted for lower-is-better metrics):

    python tools/analysis_tools/budget_sweep.py --runs A/budget_sweep.json \
        B/budget_sweep.json [--labels ADE20K NYUv2] [--work-dir DIR]
"""
import argparse
import csv
import json
import os
import os.path as osp

from veca_mm.utils.budget_eval import (PRIMARY, evaluate_schedule,
                                       lower_is_better, pick_metric)
from veca_mm.utils.cli import (add_cfg_options_argument,
                               check_checkpoint_file, check_input_file,
                               check_output_dir, int_type, load_config,
                               user_input_errors)
from veca_mm.utils.core_budgets import (allowed_budgets, check_core_budgets,
                                        meta_backbone)

TOOL = 'budget_sweep.py'


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config', nargs='?')
    p.add_argument('checkpoint', nargs='?')
    p.add_argument('--runs', nargs='+', default=None, metavar='JSON',
                   help='plot these budget_sweep.json files together '
                   '(no CONFIG/CHECKPOINT then)')
    p.add_argument('--labels', nargs='+', default=None,
                   help='one legend label per --runs file')
    p.add_argument('--budgets', type=int_type(lo=1), nargs='+',
                   default=None,
                   help='uniform budgets (default: every chunk multiple)')
    p.add_argument('--stage-budgets', nargs='+', default=[],
                   help='per-stage schedules, e.g. 64,32,16,8')
    p.add_argument('--work-dir', default=None)
    p.add_argument('--metric', default=None,
                   help='metric to plot (default: the first of '
                   f'{PRIMARY} present)')
    p.add_argument('--repeats', type=int_type(lo=1), default=3,
                   help='timed repeats per budget')
    add_cfg_options_argument(p)
    args = p.parse_args(argv)
    if args.runs is None and (args.config is None or args.checkpoint is None):
        p.error('give CONFIG and CHECKPOINT to sweep, or --runs JSON ... to '
                'plot finished sweeps together')
    if args.runs is not None and args.config is not None:
        p.error('--runs plots finished sweeps; do not give CONFIG/CHECKPOINT '
                'with it')
    if args.labels is not None and (args.runs is None
                                    or len(args.labels) != len(args.runs)):
        p.error('--labels needs --runs and one label per run')
    return args


def budget_list(args, cfg):
    """Budgets to sweep, each checked up front by the model's own rules
    (a weightless build)."""
    stages = []
    for s in args.stage_budgets:
        try:
            stages.append(tuple(int(v) for v in s.split(',')))
        except ValueError:
            raise ValueError(f'--stage-budgets {s!r}: use comma-separated '
                             'ints such as 64,32,16,8') from None
    # a schedule given twice on the command line is an error; one of the
    # default budgets also given as --stage-budgets is evaluated once
    given = [(b, ) for b in args.budgets or []] + stages
    seen = set()
    for s in given:
        if s in seen:
            raise ValueError(f'--budgets/--stage-budgets: {fmt(s)} is given '
                             'twice (each schedule is evaluated once)')
        seen.add(s)
    if args.budgets is None:
        default = allowed_budgets(meta_backbone(
            cfg, 'budget_sweep.py', 'there is no core budget to sweep'))
        given = [(b, ) for b in default if (b, ) not in seen] + stages
    check_core_budgets(cfg, given, '--budgets/--stage-budgets')
    return given


def fmt(schedule):
    return ','.join(map(str, schedule))


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


def load_run(path, metric=None):
    """(metric name, [(C, value)]) of a finished sweep's JSON, uniform
    budgets only, sorted by C; a ValueError naming ``path`` for a file
    that is not one."""
    check_input_file(path, '--runs')
    try:
        with open(path) as f:
            data = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f'--runs {path!r} is not JSON ({e})') from None
    if not isinstance(data, dict) or not isinstance(data.get('rows'), list):
        raise ValueError(f'--runs {path!r}: not a budget_sweep.json (no '
                         '"rows" list)')
    metric = metric or data.get('metric')
    if not isinstance(metric, str):
        raise ValueError(f'--runs {path!r} names no metric: pick one with '
                         '--metric')
    try:
        points = sorted((int(r['budgets'][0]), float(r[metric]))
                        for r in data['rows']
                        if len(r['budgets']) == 1 and metric in r)
    except (KeyError, IndexError, TypeError, ValueError) as e:
        raise ValueError(f'--runs {path!r}: a row is not a budget_sweep '
                         f'row ({type(e).__name__}: {e})') from None
    if not points:
        raise ValueError(f'--runs {path!r}: no uniform-budget row has '
                         f'{metric!r}; pick another with --metric')
    return metric, points


def plot_runs(paths, labels=None, work_dir='.', metric=None):
    """Fig. 5(a): every run's metric vs C, and its retention of the
    full-bank value, on one figure; also a long-form CSV."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    labels = labels or [osp.basename(osp.dirname(osp.abspath(p))) or p
                        for p in paths]
    runs = [load_run(path, metric) for path in paths]  # all, before writing
    os.makedirs(work_dir, exist_ok=True)
    table = []
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for (name, points), label in zip(runs, labels):
        budgets = [c for c, _ in points]
        values = [v for _, v in points]
        full = values[-1]
        lower = lower_is_better(name)
        keep = [100. * (full / v if lower else v / full) if v and full
                else float('nan') for v in values]
        for c, v, k in zip(budgets, values, keep):
            table.append(dict(run=label, metric=name, budget=c, value=v,
                              retention_pct=k))
        axes[0].plot(budgets, values, 'o-', label=f'{label} ({name})')
        axes[1].plot(budgets, keep, 'o-', label=label)
    axes[0].set_ylabel('metric')
    axes[1].set_ylabel('% of the full-bank value (errors inverted)')
    for ax in axes:
        ax.set_xlabel('core budget C')
        ax.grid(alpha=.3)
        ax.legend(fontsize=7)
    fig.suptitle('metric vs core budget, one curve per run')
    fig.tight_layout()
    png = osp.join(work_dir, 'budget_sweep_runs.png')
    fig.savefig(png, dpi=100)
    plt.close(fig)
    with open(osp.join(work_dir, 'budget_sweep_runs.csv'), 'w',
              newline='') as f:
        w = csv.DictWriter(f, fieldnames=list(table[0]))
        w.writeheader()
        w.writerows(table)
    print(f'wrote {work_dir}/budget_sweep_runs.{{csv,png}}')
    return table


def write_outputs(args, rows, metric, work_dir) -> None:
    """budget_sweep.{csv,json,png} and the markdown table."""
    with open(osp.join(work_dir, 'budget_sweep.csv'), 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
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


def main(argv=None):
    args = parse_args(argv)
    if args.runs is not None:
        with user_input_errors(TOOL):
            work_dir = check_output_dir(args.work_dir or '.', '--work-dir')
            for path in args.runs:
                load_run(path, args.metric)
        return plot_runs(args.runs, args.labels, work_dir, args.metric)
    # bad input: one line, exit status 1, before any schedule is evaluated
    with user_input_errors(TOOL):
        cfg = load_config(args.config, args.cfg_options)
        schedules = budget_list(args, cfg)
        check_checkpoint_file(args.checkpoint, 'checkpoint')
        work_dir = args.work_dir or osp.join(
            'work_dirs', osp.splitext(osp.basename(args.config))[0],
            'budget_sweep')
        check_output_dir(work_dir, '--work-dir')
        os.makedirs(work_dir, exist_ok=True)
    rows = []
    for i, budgets in enumerate(schedules):
        print(f'[{i + 1}/{len(schedules)}] core budgets {budgets}',
              flush=True)
        row = evaluate_schedule(cfg, args.checkpoint, budgets, work_dir,
                                args.repeats)
        rows.append(row)
        print('   ' + ', '.join(f'{k}={v:.4g}' if isinstance(v, float) else
                                f'{k}={v}' for k, v in row.items()),
              flush=True)
    metric, _ = pick_metric(rows[0], args.metric)
    write_outputs(args, rows, metric, work_dir)
    return rows


if __name__ == '__main__':
    main()
