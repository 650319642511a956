# Copyright (c) veca_mm contributors. Apache-2.0.
"""Whole-model inference time: a VECA config against the same neck + head on
the anchor backbones (dense and windowed ViT-B).

    python tools/analysis_tools/benchmark_model.py \\
        configs/veca/segformer_veca-b_8xb2-80k_cityscapes-512x1024.py \\
        --dtype fp32 bf16 --rounds 3

Every anchor is the subject config with only ``model.backbone`` replaced by
the backbone of an anchor config (``--anchors``; default: the timm dense
ViT-B/16 and the ViTDet-style windowed ViT-B/16 of
``configs/veca/segformer_vit-b16_...`` / ``segformer_vitdet-b16_...``), so
neck and head are the same by construction. Each (model, dtype, budget,
round) runs in its own process under ``RLIMIT_AS`` (an out-of-memory case is
reported as a result; any other failure exits non-zero); the time is
``model(x, mode='tensor')`` (backbone + neck + decode head, no
post-processing) at the config's test size, batch 1, the median over rounds
of each process's median. FLOPs: ``FlopCounterMode`` on weightless meta
copies (attention included).
"""
import argparse
import json
import os
import os.path as osp
import statistics
import sys
import time

from veca_mm.utils import bench
from veca_mm.utils.cli import (add_cfg_options_argument, build_model,
                               load_config)
from veca_mm.utils.core_budgets import check_core_budgets

DEFAULT_ANCHORS = (
    'configs/veca/segformer_vit-b16_8xb2-80k_cityscapes-512x1024.py',
    'configs/veca/segformer_vitdet-b16_8xb2-80k_cityscapes-512x1024.py')


def load_cfg(path: str, options=None, backbone_from: str = None):
    """The subject config, with its backbone replaced by ``backbone_from``'s
    (and no pretrained weights: speed does not depend on them)."""
    cfg = load_config(path, options)
    if backbone_from:
        cfg.model.backbone = load_config(backbone_from).model.backbone
    cfg.model.backbone.init_cfg = None
    if cfg.model.backbone.get('type') == 'TIMMBackbone':
        cfg.model.backbone.pretrained = False
    return cfg


def build(cfg, budget=None, meta=False):
    model = build_model(cfg, meta=meta)
    if budget is not None:
        model.backbone.set_core_budgets(budget)
    return model.eval()


def run_case(args, case: dict) -> dict:
    """Worker: time one whole model (median of --repeats forwards)."""
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    res = dict(case, threads=torch.get_num_threads())
    amp = bench.autocast(case['dtype'])
    with bench.oom_as_result(res):
        torch.manual_seed(0)
        cfg = load_cfg(args.config, args.cfg_options, case['backbone_from'])
        model = build(cfg, case['budget'])
        x = torch.randn(1, 3, *case['size'])

        def step():
            with torch.inference_mode(), amp:
                model(x, mode='tensor')
        times = []
        with bench.cast_weights(model, case['dtype']):
            res['mem_bytes'] = bench.measure_peak_rss(step)['mem_bytes']
            for _ in range(args.repeats):  # the memory step was the warm-up
                t0 = time.perf_counter()
                step()
                times.append(time.perf_counter() - t0)
        res.update(status='ok', times_s=times,
                   median_s=statistics.median(times))
    return res


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config', help='the (VECA) config to time')
    p.add_argument('--anchors', nargs='*', default=list(DEFAULT_ANCHORS),
                   help='configs whose backbone replaces the subject\'s '
                   '(default: dense and windowed ViT-B/16); none: only the '
                   'subject')
    p.add_argument('--size', type=int, nargs=2, default=None,
                   metavar=('H', 'W'), help='default: the test pipeline size')
    p.add_argument('--dtype', nargs='+', default=['fp32'],
                   choices=sorted(bench.DTYPES))
    p.add_argument('--budgets', type=int, nargs='*', default=None,
                   help='VECA core budgets to time (default: the config\'s)')
    p.add_argument('--rounds', type=int, default=1,
                   help='interleaved repetitions; median over rounds')
    p.add_argument('--repeats', type=int, default=2,
                   help='timed forwards per process (after one untimed)')
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--mem-limit-gb', type=float, default=12.,
                   help='RLIMIT_AS of every case process (0: none)')
    p.add_argument('--case-timeout', type=float, default=None)
    add_cfg_options_argument(p)
    p.add_argument('--out', default=None, help='save the results as JSON')
    p.add_argument('--_case', default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._case:
        return args
    if args.rounds < 1 or args.repeats < 1:
        p.error('--rounds and --repeats must be >= 1')
    for a in [args.config] + args.anchors:
        if not osp.isfile(a):
            p.error(f'config {a} not found')
    return args


def label(c) -> str:
    """A case's row name: the anchor config, or the subject (and budget)."""
    if c[1]:
        return osp.splitext(osp.basename(c[1]))[0]
    name = osp.splitext(osp.basename(c[0]))[0]
    return name + (f' (C={c[2]})' if c[2] is not None else '')


def whole_model_flops(args, size, models) -> dict:
    """FlopCounterMode FLOPs of each (config, anchor, budget) on meta."""
    import torch

    from veca_mm.utils.flops import measured_flops
    flops = {}
    meta_x = torch.empty(1, 3, *size, device='meta')
    for c in models:
        m = build(load_cfg(args.config, args.cfg_options, c[1]), c[2],
                  meta=True)
        with torch.no_grad():
            flops[label(c)] = measured_flops(lambda: m(meta_x, mode='tensor'))
    return flops


def run_all(args, argv, cases) -> list:
    runs = []
    for i, case in enumerate(cases):
        r = bench.spawn_case(__file__, argv, case, args.mem_limit_gb,
                             args.case_timeout)
        runs.append(r)
        msg = (f'{r["median_s"]:.2f} s' if r['status'] == 'ok' else
               bench.status_text(r))
        print(f'  [{i + 1}/{len(cases)}] {case["label"]} {case["dtype"]}: '
              f'{msg}', file=sys.stderr, flush=True)
        if r['status'] == 'error':
            print(r['error'], file=sys.stderr)
    return runs


def median_rows(runs) -> dict:
    """(label, dtype) -> the median over rounds, or the first failure."""
    groups = {}
    for r in runs:
        groups.setdefault((r['label'], r['dtype']), []).append(r)
    rows = {}
    for key, rs in groups.items():
        bad = [r for r in rs if r['status'] != 'ok']
        rows[key] = dict(bad[0]) if bad else dict(
            rs[0], median_s=statistics.median(r['median_s'] for r in rs),
            round_medians_s=[r['median_s'] for r in rs])
    return rows


def print_table(rows, flops, labels, anchor_labels, dtype) -> None:
    head = '| model | GFLOPs | time (s) | peak mem (MiB) |' + ''.join(
        f' speedup vs {a} | FLOP ratio | speedup / FLOP ratio |'
        for a in anchor_labels)
    print(head)
    print('|---|' + '---:|' * (head.count('|') - 2))
    for name in labels:
        r, fl = rows[(name, dtype)], flops[name]
        if r['status'] != 'ok':
            print(f'| {name} | {fl / 1e9:,.0f} | {bench.status_text(r)} '
                  '|' + ' |' * (1 + 3 * len(anchor_labels)))
            continue
        cells = [name, f'{fl / 1e9:,.0f}', f'{r["median_s"]:.2f}',
                 f'{r["mem_bytes"] / 2**20:,.0f}']
        for a in anchor_labels:
            ar = rows[(a, dtype)]
            ratio = flops[a] / fl
            if ar['status'] != 'ok':
                cells += ['-', f'{ratio:.2f}', '-']
                continue
            sp = ar['median_s'] / r['median_s']
            cells += [f'{sp:.2f}', f'{ratio:.2f}', f'{sp / ratio:.2f}']
        print('| ' + ' | '.join(cells) + ' |')


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if bench.run_if_case(args, run_case):
        return 0
    import torch

    from veca_mm.utils.flops import config_test_size
    cfg = load_cfg(args.config, args.cfg_options)
    size = tuple(args.size) if args.size else config_test_size(cfg)
    budgets = check_core_budgets(cfg, args.budgets, '--budgets') \
        if args.budgets else [None]
    subjects = [(args.config, None, b) for b in budgets]
    anchors = [(args.config, a, None) for a in args.anchors]
    flops = whole_model_flops(args, size, subjects + anchors)
    cases = [dict(backbone_from=c[1], budget=c[2], label=label(c),
                  size=list(size), dtype=d, round=r)
             for r in range(args.rounds) for d in args.dtype
             for c in subjects + anchors]
    print(f'{args.config}: whole model at {size[0]}x{size[1]}, batch 1, '
          f'{len(cases)} case processes', flush=True)
    load0 = os.getloadavg()
    runs = run_all(args, argv, cases)
    load1 = os.getloadavg()
    rows = median_rows(runs)
    for dtype in args.dtype:
        print(f'\n## {dtype}{" (autocast)" if dtype != "fp32" else ""}, '
              f'{size[0]}x{size[1]}, batch 1, {args.rounds} round(s); load '
              f'avg {load0[0]:.2f} -> {load1[0]:.2f}\n')
        print_table(rows, flops, [label(c) for c in subjects + anchors],
                    [label(c) for c in anchors], dtype)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(config=args.config, size=size, flops=flops,
                           loadavg=[load0, load1], torch=torch.__version__,
                           results=list(rows.values()), runs=runs), f,
                      indent=1)
        print(f'saved {args.out}')
    failed = [r for r in runs if r['status'] == 'error']
    if failed:
        print(f'{len(failed)} case(s) FAILED (not out of memory)',
              file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
