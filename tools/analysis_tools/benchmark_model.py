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

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(osp.dirname(HERE))
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

import benchmark_backbone as bb  # noqa: E402

DEFAULT_ANCHORS = (
    'configs/veca/segformer_vit-b16_8xb2-80k_cityscapes-512x1024.py',
    'configs/veca/segformer_vitdet-b16_8xb2-80k_cityscapes-512x1024.py')


def load_cfg(path: str, options=None, backbone_from: str = None):
    """The subject config, with its backbone replaced by ``backbone_from``'s
    (and no pretrained weights: speed does not depend on them)."""
    from mmengine.config import Config
    cfg = Config.fromfile(path)
    if options:
        cfg.merge_from_dict(options)
    if backbone_from:
        cfg.model.backbone = Config.fromfile(backbone_from).model.backbone
    cfg.model.backbone.init_cfg = None
    if cfg.model.backbone.get('type') == 'TIMMBackbone':
        cfg.model.backbone.pretrained = False
    return cfg


def build(cfg, budget=None, meta=False):
    import torch
    from mmengine.registry import MODELS, init_default_scope

    import veca_mm  # noqa: F401
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    if meta:
        with torch.device('meta'):
            model = MODELS.build(cfg.model)
    else:
        model = MODELS.build(cfg.model)
    if budget is not None:
        model.backbone.set_core_budgets(budget)
    return model.eval()


def run_case(args, case: dict) -> dict:
    """Worker: time one whole model (median of --repeats forwards)."""
    import contextlib

    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    res = dict(case, threads=torch.get_num_threads())
    amp = (torch.autocast('cpu', dtype=getattr(torch, bb.DTYPES[
        case['dtype']])) if case['dtype'] != 'fp32' else
        contextlib.nullcontext())
    try:
        torch.manual_seed(0)
        cfg = load_cfg(args.config, args.cfg_options, case['backbone_from'])
        model = build(cfg, case['budget'])
        x = torch.randn(1, 3, *case['size'])

        def step():
            with torch.inference_mode(), amp:
                model(x, mode='tensor')
        bb._reset_peak_rss()
        base = bb._proc_status_kib('VmRSS') or 0
        step()  # memory + warm-up
        res['mem_bytes'] = ((bb._proc_status_kib('VmHWM') or 0) - base) * 1024
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        res.update(status='ok', times_s=times,
                   median_s=statistics.median(times))
    except BaseException as exc:  # noqa: B902 - classify, then report
        if not bb.is_oom(exc):
            raise
        res.update(status='oom', error=str(exc).splitlines()[0][:300],
                   peak_bytes=(bb._proc_status_kib('VmHWM') or 0) * 1024)
    return res


def main(argv=None):
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config', help='the (VECA) config to time')
    p.add_argument('--anchors', nargs='*', default=list(DEFAULT_ANCHORS),
                   help='configs whose backbone replaces the subject\'s '
                   '(default: dense and windowed ViT-B/16); none: only the '
                   'subject')
    p.add_argument('--size', type=int, nargs=2, default=None,
                   metavar=('H', 'W'), help='default: the test pipeline size')
    p.add_argument('--dtype', nargs='+', default=['fp32'],
                   choices=sorted(bb.DTYPES))
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
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    p.add_argument('--out', default=None, help='save the results as JSON')
    p.add_argument('--_case', default=None, help=argparse.SUPPRESS)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = p.parse_args(argv)
    if args._case:
        res = run_case(args, json.loads(args._case))
        print(bb.RESULT_TAG + json.dumps(res), flush=True)
        return 0
    if args.rounds < 1 or args.repeats < 1:
        p.error('--rounds and --repeats must be >= 1')
    for a in [args.config] + args.anchors:
        if not osp.isfile(a):
            p.error(f'config {a} not found')

    import torch

    from veca_mm.utils.flops import config_test_size, measured_flops
    cfg = load_cfg(args.config, args.cfg_options)
    size = tuple(args.size) if args.size else config_test_size(cfg)
    meta = build(cfg, meta=True)
    if args.budgets and not hasattr(meta.backbone, 'set_core_budgets'):
        p.error(f'--budgets: the backbone of {args.config} '
                f'({cfg.model.backbone.type}) has no core budgets')
    budgets = args.budgets or [None]
    for b in budgets:  # the model's own check (multiple of its core_chunk)
        if b is not None:
            try:
                meta.backbone.set_core_budgets(b)
            except ValueError as e:
                p.error(f'--budgets {b}: {e}')
    subjects = [(args.config, None, b) for b in budgets]
    anchors = [(args.config, a, None) for a in args.anchors]

    def label(c):
        if c[1]:
            return osp.splitext(osp.basename(c[1]))[0]
        name = osp.splitext(osp.basename(c[0]))[0]
        return name + (f' (C={c[2]})' if c[2] is not None else '')

    flops = {}
    meta_x = torch.empty(1, 3, *size, device='meta')
    for c in subjects + anchors:
        m = build(load_cfg(args.config, args.cfg_options, c[1]), c[2],
                  meta=True)
        with torch.no_grad():
            flops[label(c)] = measured_flops(lambda: m(meta_x, mode='tensor'))
    cases = [dict(backbone_from=c[1], budget=c[2], label=label(c),
                  size=list(size), dtype=d, round=r)
             for r in range(args.rounds) for d in args.dtype
             for c in subjects + anchors]
    print(f'{args.config}: whole model at {size[0]}x{size[1]}, batch 1, '
          f'{len(cases)} case processes', flush=True)
    load0 = os.getloadavg()
    runs = []
    for i, case in enumerate(cases):
        r = bb.spawn_case(__file__, argv, case, args.mem_limit_gb,
                          args.case_timeout)
        runs.append(r)
        msg = (f'{r["median_s"]:.2f} s' if r['status'] == 'ok' else
               bb.status_text(r))
        print(f'  [{i + 1}/{len(cases)}] {case["label"]} {case["dtype"]}: '
              f'{msg}', file=sys.stderr, flush=True)
        if r['status'] == 'error':
            print(r['error'], file=sys.stderr)
    load1 = os.getloadavg()
    groups = {}
    for r in runs:
        groups.setdefault((r['label'], r['dtype']), []).append(r)
    rows = {}
    for key, rs in groups.items():
        bad = [r for r in rs if r['status'] != 'ok']
        rows[key] = dict(bad[0]) if bad else dict(
            rs[0], median_s=statistics.median(r['median_s'] for r in rs),
            round_medians_s=[r['median_s'] for r in rs])
    anchor_labels = [label(c) for c in anchors]
    for dtype in args.dtype:
        print(f'\n## {dtype}{" (autocast)" if dtype != "fp32" else ""}, '
              f'{size[0]}x{size[1]}, batch 1, {args.rounds} round(s); load '
              f'avg {load0[0]:.2f} -> {load1[0]:.2f}\n')
        head = '| model | GFLOPs | time (s) | peak mem (MiB) |' + ''.join(
            f' speedup vs {a} | FLOP ratio | speedup / FLOP ratio |'
            for a in anchor_labels)
        print(head)
        print('|---|' + '---:|' * (head.count('|') - 2))
        for c in subjects + anchors:
            r = rows[(label(c), dtype)]
            fl = flops[label(c)]
            if r['status'] != 'ok':
                print(f'| {label(c)} | {fl / 1e9:,.0f} | {bb.status_text(r)} '
                      '|' + ' |' * (1 + 3 * len(anchor_labels)))
                continue
            cells = [label(c), f'{fl / 1e9:,.0f}', f'{r["median_s"]:.2f}',
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
