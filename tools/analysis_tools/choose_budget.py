# Copyright (c) veca_mm contributors. Apache-2.0.
"""Pick the best per-stage core schedule that meets a latency target.

One VECA checkpoint runs at any core budget, even a different one per stage.
This measures candidate schedules on *this* machine (latency of the backbone
and of the whole model on the config's real test input, median of repeats)
and scores each with the config's own evaluator, then prints the best
schedule whose latency is within ``--latency-ms``.

Candidates (``--search``):
- ``monotone``: every uniform budget, every 2-stage schedule, and the 4-stage
  schedules that only shrink or only grow with depth (schedules that map to
  the same per-layer budgets are measured once);
- ``greedy``: every uniform budget plus a coordinate descent over the
  4-stage (else 2-stage) grid: start from the full bank, repeatedly lower one
  stage by one chunk, keep the step with the best metric (ties: faster);
- ``auto`` (default): ``monotone`` if it has at most ``--max-candidates``
  schedules (32 cores: 66), else ``greedy`` (64 cores: 652 monotone
  candidates; greedy measures at most 8 + 4 x 7 x 4).

Writes into the work dir ``choose_budget.csv`` (``schedule, latency_ms,
backbone_ms, model_ms, backbone_gflops, input_hw``, the metrics, ``pareto``;
GFLOPs are analytic, a noise-free cost beside the latency), ``.json`` and
``.png`` (metric vs latency, Pareto front and the choice marked). The CSV is
rewritten after every schedule: a killed run resumes where it stopped and
rows deleted from it are measured again.

    python tools/analysis_tools/choose_budget.py CONFIG CKPT --latency-ms 30 \
        [--max-images 50] [--device cpu] [--cfg-options ...]
"""
import argparse
import csv
import itertools
import json
import os
import os.path as osp

import torch

from veca_mm.utils.budget_eval import (LOWER_IS_BETTER, PRIMARY,
                                       evaluate_schedule, lower_is_better,
                                       pick_metric)
from veca_mm.utils.cli import (add_cfg_options_argument,
                               check_checkpoint_file, check_device,
                               check_output_dir, int_type, load_config,
                               number_type, user_input_errors)
from veca_mm.utils.core_budgets import meta_backbone
from veca_mm.utils.stages import layer_budgets

TOOL = 'choose_budget.py'
TIMING = ('backbone_ms', 'model_ms')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--latency-ms', type=number_type(lo=0, lo_open=True,
                                                    allow_inf=True),
                   required=True,
                   help='latency target per test image, milliseconds')
    p.add_argument('--latency-of', choices=('model', 'backbone'),
                   default='model',
                   help='what the target bounds (default: the whole model)')
    p.add_argument('--device', default='cpu',
                   help='where to measure (cpu, cuda, cuda:1, ...)')
    p.add_argument('--max-images', type=int_type(lo=1), default=None,
                   help='score on the first N validation images only')
    p.add_argument('--search', choices=('auto', 'monotone', 'greedy'),
                   default='auto')
    p.add_argument('--max-candidates', type=int_type(lo=0), default=100,
                   help='auto: largest monotone space before going greedy')
    p.add_argument('--repeats', type=int_type(lo=1), default=5,
                   help='timed repeats per schedule (median)')
    p.add_argument('--metric', default=None,
                   help='metric to maximise (default: the first of '
                   f'{PRIMARY} present; '
                   f'{LOWER_IS_BETTER} are minimised)')
    p.add_argument('--work-dir', default=None)
    p.add_argument('--fresh', action='store_true',
                   help='ignore an existing choose_budget.csv')
    add_cfg_options_argument(p)
    return p.parse_args(argv)


def fmt(schedule):
    return '/'.join(map(str, schedule))


def parse_schedule(text):
    return tuple(int(v) for v in text.split('/'))


def _levels(num_cores, chunk):
    return list(range(chunk, num_cores + 1, chunk))


def canonical(schedule, num_layers):
    """The shortest schedule with the same per-layer budgets:
    ``(16, 16, 16, 16)`` is ``(16,)``, ``(32, 32, 8, 8)`` is ``(32, 8)``."""
    per_layer = layer_budgets(schedule, num_layers)
    for n in range(1, len(schedule) + 1):
        if num_layers % n == 0:
            short = per_layer[::num_layers // n]
            if layer_budgets(short, num_layers) == per_layer:
                return tuple(short)
    return tuple(schedule)


def _dedupe(schedules, num_layers):
    """Drop schedules with the same per-layer budgets as an earlier one."""
    seen, out = set(), []
    for s in schedules:
        s = canonical(s, num_layers)
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def stage_counts(num_layers):
    """The per-stage splits searched: 2 and 4 equal stages where they fit."""
    return [n for n in (2, 4) if n <= num_layers and num_layers % n == 0]


def monotone_schedules(num_cores, chunk, num_layers):
    """Uniform budgets, all 2-stage schedules, monotone 4-stage ones."""
    levels = _levels(num_cores, chunk)
    out = [(b, ) for b in levels]
    for n in stage_counts(num_layers):  # 2-stage ones come first
        for s in itertools.product(levels, repeat=n):
            pairs = list(zip(s, s[1:]))
            if n > 2 and not (all(a >= b for a, b in pairs)
                              or all(a <= b for a, b in pairs)):
                continue
            out.append(s)
    return _dedupe(out, num_layers)


def greedy_next(current, chunk):
    """Neighbours of a schedule: one stage lowered by one chunk."""
    return [current[:i] + (b - chunk, ) + current[i + 1:]
            for i, b in enumerate(current) if b - chunk >= chunk]


def pareto_mask(rows, metric, lower_better):
    """True where no other row is at least as fast and at least as good,
    and strictly better in one."""
    sign = -1 if lower_better else 1
    mask = []
    for r in rows:
        lat, m = r['latency_ms'], sign * r[metric]
        dominated = any(
            o is not r and o['latency_ms'] <= lat and sign * o[metric] >= m
            and (o['latency_ms'] < lat or sign * o[metric] > m)
            for o in rows)
        mask.append(not dominated)
    return mask


def choose(rows, metric, lower_better, target):
    """The best-metric row within ``target`` ms (ties: faster), or None."""
    fits = [r for r in rows if r['latency_ms'] <= target]
    if not fits:
        return None
    sign = -1 if lower_better else 1
    return max(fits, key=lambda r: (sign * r[metric], -r['latency_ms']))


class Measurer:
    """Measures schedules once each; reads and rewrites the CSV."""

    def __init__(self, args, cfg, work_dir, arch):
        self.args, self.cfg, self.work_dir = args, cfg, work_dir
        self.arch = arch
        num_layers = self.num_layers = arch['num_layers']
        self.csv_path = osp.join(work_dir, 'choose_budget.csv')
        self.rows = {}  # schedule tuple -> row
        self.order = []
        self.new = []  # schedules measured by this run
        self.metric = args.metric
        meta_path = osp.join(work_dir, 'choose_budget.json')
        self.meta = dict(config=osp.abspath(args.config),
                         checkpoint=osp.abspath(args.checkpoint),
                         max_images=args.max_images, device=args.device,
                         cfg_options=args.cfg_options)
        if args.fresh or not osp.isfile(self.csv_path):
            return
        try:
            self._resume(meta_path)
        except (KeyError, IndexError, ValueError, TypeError,
                AttributeError, ZeroDivisionError) as e:
            raise ValueError(
                f'{self.csv_path} (or its choose_budget.json) is not one this '
                f'tool wrote ({type(e).__name__}: {e}); pass --fresh to start '
                'over or another --work-dir.') from None
        print(f'resuming: {len(self.rows)} schedules already in '
              f'{self.csv_path}', flush=True)

    def _resume(self, meta_path):
        """The rows of an earlier run's CSV (same settings only)."""
        num_layers = self.num_layers
        if osp.isfile(meta_path):
            with open(meta_path) as f:
                old = json.load(f).get('measured_with', {})
            diff = {k: (old.get(k), v) for k, v in self.meta.items()
                    if old.get(k) != v}
            if diff:
                raise SystemExit(
                    f'{self.csv_path} was measured with other settings '
                    f'({diff}, old vs new); pass --fresh to start over or '
                    'another --work-dir.')
        with open(self.csv_path, newline='') as f:
            for r in csv.DictReader(f):
                s = canonical(parse_schedule(r.pop('schedule')),
                              num_layers)
                r.pop('pareto', None)
                r.pop('latency_ms', None)
                r.pop('backbone_gflops', None)
                row = dict(schedule=s, input_hw=r.pop('input_hw'))
                row.update({k: float(v) for k, v in r.items() if v != ''})
                self.rows[s] = row
                self.order.append(s)

    def measure(self, schedule):
        schedule = canonical(schedule, self.num_layers)
        if schedule in self.rows:
            return self.rows[schedule]
        r = evaluate_schedule(self.cfg, self.args.checkpoint, schedule,
                              self.work_dir, self.args.repeats)
        row = dict(schedule=schedule,
                   input_hw='x'.join(map(str, r.pop('input_hw'))))
        r.pop('budgets')
        row.update(r)
        self.rows[schedule] = row
        self.order.append(schedule)
        self.new.append(schedule)
        self.write()
        return row

    def metric_key(self):
        try:
            self.metric, keys = pick_metric(next(iter(self.rows.values())),
                                            self.metric)
        except ValueError as e:
            raise SystemExit(str(e))
        return self.metric, keys

    def table(self):
        lat = f'{self.args.latency_of}_ms'
        rows = [dict(self.rows[s], latency_ms=self.rows[s][lat],
                     backbone_gflops=self.gflops(s, self.rows[s]['input_hw']))
                for s in self.order]
        metric, _ = self.metric_key()
        mask = pareto_mask(rows, metric, lower_is_better(metric))
        for r, m in zip(rows, mask):
            r['pareto'] = int(m)
        return rows

    def gflops(self, schedule, input_hw):
        """The backbone's analytic GFLOPs: a noise-free cost beside the
        measured latency (``veca_mm.utils.flops``)."""
        from veca_mm.utils.flops import veca_flops
        bb = self.cfg.model.backbone
        h, w = (int(v) for v in input_hw.split('x'))
        return veca_flops(self.arch, h, w, schedule,
                          bb.get('patch_size', 16),
                          bb.get('in_channels', 3))['total'] / 1e9

    def write(self):
        rows = self.table()
        _, metrics = self.metric_key()
        fields = ['schedule', 'latency_ms', *TIMING, 'backbone_gflops',
                  'input_hw', *metrics, 'pareto']
        tmp = self.csv_path + '.tmp'
        with open(tmp, 'w', newline='') as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            for r in rows:
                w.writerow(dict({k: r.get(k, '') for k in fields},
                                schedule=fmt(r['schedule'])))
        os.replace(tmp, self.csv_path)


def plot(rows, metric, chosen, target, path, latency_of):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for n, marker in ((1, 'o'), (2, 's'), (4, '^')):
        sel = [r for r in rows if len(r['schedule']) == n]
        if sel:
            ax.scatter([r['latency_ms'] for r in sel],
                       [r[metric] for r in sel], marker=marker, alpha=.55,
                       label='uniform' if n == 1 else f'{n}-stage')
    front = sorted((r for r in rows if r['pareto']),
                   key=lambda r: r['latency_ms'])
    ax.step([r['latency_ms'] for r in front], [r[metric] for r in front],
            'k-', where='post', lw=1, label='Pareto front')
    for r in front:
        ax.annotate(fmt(r['schedule']), (r['latency_ms'], r[metric]),
                    fontsize=6, xytext=(3, 3), textcoords='offset points')
    ax.axvline(target, color='tab:red', ls='--', lw=1,
               label=f'target {target:g} ms')
    if chosen is not None:
        ax.scatter([chosen['latency_ms']], [chosen[metric]], marker='*',
                   s=220, color='tab:red', zorder=5,
                   label=f'chosen {fmt(chosen["schedule"])}')
    ax.set_xlabel(f'{latency_of} latency per image (ms, median)')
    ax.set_ylabel(metric)
    ax.grid(alpha=.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def select_device(device):
    """Make mmengine's Runner (which puts the model on
    ``mmengine.device.get_device()``) run on ``device``."""
    if device == 'cpu':
        if torch.cuda.is_available():
            # hide the GPUs before CUDA is initialised
            os.environ['CUDA_VISIBLE_DEVICES'] = ''
            if torch.cuda.is_available():
                raise SystemExit('--device cpu: CUDA was initialised '
                                 'already; run with CUDA_VISIBLE_DEVICES= .')
        return
    if device == 'cuda' or device.startswith('cuda:'):
        if not torch.cuda.is_available():
            raise SystemExit(f'--device {device}: no CUDA device here')
        if ':' in device:
            torch.cuda.set_device(int(device.split(':')[1]))
        return
    raise SystemExit(f'--device {device!r}: use cpu, cuda or cuda:N')


def search_space(args, bb, m):
    """Measure the candidates on the VECA ``bb``: the whole monotone space,
    or uniform budgets then a coordinate descent (greedy); returns the
    search used."""
    from mmengine.utils import ProgressBar
    chunk, M, L = bb.core_chunk, bb.num_cores, bb.num_layers
    space = monotone_schedules(M, chunk, L)
    search = args.search
    if search == 'auto':
        search = 'monotone' if len(space) <= args.max_candidates \
            else 'greedy'
    if search == 'monotone':
        print(f'{len(space)} candidate schedules (monotone search)')
        todo = [s for s in space if s not in m.rows]
        bar = ProgressBar(len(todo)) if todo else None
        for s in todo:
            m.measure(s)
            bar.update()
        return search
    n = max(stage_counts(L) or [1])
    uniform = [(b, ) for b in _levels(M, chunk)]
    print(f'greedy search: {len(uniform)} uniform budgets, then '
          f'coordinate descent over {n} stages (at most '
          f'{n * (M // chunk - 1)} steps)')
    bar = ProgressBar(len(uniform) + n * (M // chunk - 1))
    for s in uniform:
        m.measure(s)
        bar.update()
    metric, _ = m.metric_key()
    sign = -1 if lower_is_better(metric) else 1
    lat = f'{args.latency_of}_ms'
    current = (M, ) * n
    while greedy_next(current, chunk):
        rows = [m.measure(s) for s in _dedupe(greedy_next(current, chunk), L)]
        best = max(rows, key=lambda r: (sign * r[metric], -r[lat]))
        current = layer_budgets(best['schedule'], n)  # back to n
        bar.update()
    return search


def report(args, rows, metric, chosen, front, m, work_dir) -> None:
    """The Pareto front as a table and the choice (or the fastest)."""
    print(f'{len(rows)} schedules ({len(m.new)} measured this run), '
          f'{len(front)} on the Pareto front of {metric} vs '
          f'{args.latency_of} latency:')
    print(f'| schedule | {args.latency_of} ms | backbone GFLOPs | {metric} |')
    print('|---|---:|---:|---:|')
    for r in front:
        print(f'| {fmt(r["schedule"])} | {r["latency_ms"]:.1f} | '
              f'{r["backbone_gflops"]:.3f} | {r[metric]:.3f} |')
    if chosen is None:
        fastest = min(rows, key=lambda r: r['latency_ms'])
        print(f'\nno schedule fits {args.latency_ms:g} ms: the fastest is '
              f'{fmt(fastest["schedule"])} at '
              f'{fastest["latency_ms"]:.1f} ms ({metric} '
              f'{fastest[metric]:.3f}).')
    else:
        s = chosen['schedule']
        tup = f'({s[0]}, )' if len(s) == 1 else '(' + ', '.join(
            map(str, s)) + ')'
        print(f'\nbest within {args.latency_ms:g} ms: {fmt(s)} at '
              f'{chosen["latency_ms"]:.1f} ms, {metric} '
              f'{chosen[metric]:.3f}')
        print(f'  tools/test.py ... --core-budgets {" ".join(map(str, s))}')
        print(f'  config: model = dict(backbone=dict(core_budgets={tup}))')
    print(f'wrote {work_dir}/choose_budget.{{csv,json,png}}')


def main(argv=None):
    args = parse_args(argv)
    # bad input: one line, exit status 1, before any schedule is measured
    with user_input_errors(TOOL):
        cfg = load_config(args.config, args.cfg_options)
        # the space, validated against the model's own rules up front
        bb = meta_backbone(cfg, 'choose_budget.py', 'there is no core '
                           'budget to choose')
        check_checkpoint_file(args.checkpoint, 'checkpoint')
        check_device(args.device, '--device')
        select_device(args.device)
        if args.max_images:
            loader = cfg.get('test_dataloader', None)
            if not isinstance(loader, dict) or not isinstance(
                    loader.get('dataset', None), dict):
                raise ValueError('--max-images: the config has no '
                                 'test_dataloader.dataset')
            cfg.test_dataloader.dataset.indices = args.max_images
        work_dir = args.work_dir or osp.join(
            'work_dirs', osp.splitext(osp.basename(args.config))[0],
            'choose_budget')
        check_output_dir(work_dir, '--work-dir')
        os.makedirs(work_dir, exist_ok=True)
        m = Measurer(args, cfg, work_dir, bb.arch)
    search = search_space(args, bb, m)
    print()
    rows = m.table()
    metric, _ = m.metric_key()
    m.write()
    chosen = choose(rows, metric, lower_is_better(metric), args.latency_ms)
    plot(rows, metric, chosen, args.latency_ms,
         osp.join(work_dir, 'choose_budget.png'), args.latency_of)
    front = sorted((r for r in rows if r['pareto']),
                   key=lambda r: r['latency_ms'])
    with open(osp.join(work_dir, 'choose_budget.json'), 'w') as f:
        json.dump(dict(measured_with=m.meta, metric=metric,
                       latency_of=args.latency_of, search=search,
                       target_ms=args.latency_ms,
                       chosen=fmt(chosen['schedule']) if chosen else None,
                       measured_this_run=[fmt(s) for s in m.new],
                       pareto=[fmt(r['schedule']) for r in front]), f,
                  indent=2)
    report(args, rows, metric, chosen, front, m, work_dir)
    return dict(rows=rows, chosen=chosen, metric=metric, front=front,
                measured=list(m.new), work_dir=work_dir)


if __name__ == '__main__':
    main()
