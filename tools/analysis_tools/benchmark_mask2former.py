# Copyright (c) veca_mm contributors. Apache-2.0.
"""Where a Mask2Former forward spends its time: backbone, neck, pixel
decoder (and inside it mmcv's multi-scale deformable attention), query
decoder and post-processing, for one image of a given size.

    python tools/analysis_tools/benchmark_mask2former.py CONFIG \
        [--size 512 512] [--repeats 3] [--budgets 64] [--mem-limit-gb 10] \
        [--threads 1 --clock cpu]

Builds the config's model with random weights (``init_cfg=None``), runs the
framework's own ``test_step`` (mmseg or mmdet) on a random image, batch 1,
fp32, and times each part with forward hooks (median of ``--repeats``
after one warm-up). ``msda core`` is mmcv's
``multi_scale_deformable_attn_pytorch`` (the grid-sample path mmcv takes
whenever the tensors are not on a CUDA/MLU device), ``msda`` the whole
``MultiScaleDeformableAttention`` modules (projections included).
``--clock cpu`` times CPU seconds of the process instead of wall seconds:
on a machine shared with other jobs the wall time mostly measures the
others. Prints a
markdown table and which MSDA implementation ran. The model runs in a child
process with an address-space limit (``veca_mm.utils.bench.spawn_case``),
so a too-large size is reported as out of memory instead of meeting the
system's OOM killer.
"""
import argparse
import os.path as osp
import statistics
import sys
import time

from veca_mm.utils import bench


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('--size', type=int, nargs=2, default=(512, 512),
                   metavar=('H', 'W'))
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--budgets', type=int, nargs='*', default=[None],
                   help='VECA core budgets to time (default: the config\'s)')
    p.add_argument('--mem-limit-gb', type=float, default=10.0)
    p.add_argument('--threads', type=int, default=None,
                   help='torch intra-op threads (default: torch\'s)')
    p.add_argument('--clock', choices=('wall', 'cpu'), default='wall',
                   help='cpu: CPU seconds of this process '
                   '(time.process_time), robust to other load on a shared '
                   'machine; use it with --threads 1 (idle OpenMP threads '
                   'spin and would count)')
    p.add_argument('--_case', default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


class Timer:
    """Accumulates the time of module forwards through hooks."""

    def __init__(self, clock=time.perf_counter):
        self.clock = clock
        self.total = {}
        self._start = {}

    def attach(self, name, module):
        def pre(mod, args, kwargs=None):
            self._start[id(mod), name] = self.clock()

        def post(mod, args, out):
            t0 = self._start.pop((id(mod), name))
            self.total[name] = self.total.get(name, 0.0) + \
                self.clock() - t0

        module.register_forward_pre_hook(pre)
        module.register_forward_hook(post)

    def wrap(self, name, fn):
        def timed(*args, **kwargs):
            t0 = self.clock()
            try:
                return fn(*args, **kwargs)
            finally:
                self.total[name] = self.total.get(name, 0.0) + \
                    self.clock() - t0
        return timed


def instrument(model, clock):
    """A ``Timer`` on the model's parts: backbone, neck, pixel decoder
    (and its MSDA modules and kernels), query decoder."""
    import mmcv.ops.multi_scale_deform_attn as msda_mod
    from mmcv.ops import MultiScaleDeformableAttention
    head = getattr(model, 'decode_head', None) or model.panoptic_head
    timer = Timer(clock)
    timer.attach('backbone', model.backbone)
    timer.attach('neck', model.neck)
    timer.attach('pixel decoder', head.pixel_decoder)
    # mmdet's Mask2FormerHead calls the decoder layers and its mask / class
    # predictor (_forward_head) one by one: time those
    for layer in head.transformer_decoder.layers:
        timer.attach('query decoder', layer)
    head._forward_head = timer.wrap('query decoder', head._forward_head)
    for m in head.modules():
        if isinstance(m, MultiScaleDeformableAttention):
            timer.attach('msda', m)
    # mmcv picks the compiled op only for CUDA/MLU tensors; count both paths
    msda_mod.multi_scale_deformable_attn_pytorch = timer.wrap(
        'msda core', msda_mod.multi_scale_deformable_attn_pytorch)
    msda_mod.MultiScaleDeformableAttnFunction.apply = timer.wrap(
        'msda compiled op', msda_mod.MultiScaleDeformableAttnFunction.apply)
    return timer


def random_batch(scope, h, w):
    """One random uint8 image as the framework's ``test_step`` input."""
    import torch
    g = torch.Generator().manual_seed(0)
    img = torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8)
    meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                scale_factor=(1.0, 1.0))
    if scope == 'mmdet':
        from mmdet.structures import DetDataSample as Sample
    else:
        from mmseg.structures import SegDataSample as Sample
    return dict(inputs=[img], data_samples=[Sample(metainfo=meta)])


def time_parts(model, timer, data, repeats, clock) -> dict:
    """Median seconds of each part over ``repeats`` after one warm-up."""
    import torch
    runs = []
    with torch.inference_mode():
        for i in range(repeats + 1):
            timer.total.clear()
            t0 = clock()
            model.test_step(data)
            total = clock() - t0
            if i:  # the first run warms up
                runs.append(dict(timer.total, whole=total))
    keys = ['whole', 'backbone', 'neck', 'pixel decoder', 'msda',
            'msda core', 'msda compiled op', 'query decoder']
    med = {k: statistics.median(r.get(k, 0.0) for r in runs) for k in keys}
    med['rest (post-processing)'] = med['whole'] - sum(
        med[k] for k in ('backbone', 'neck', 'pixel decoder',
                         'query decoder'))
    return med


def child(args) -> dict:
    import torch

    from veca_mm.utils.cli import build_model, config_scope, load_config
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(args.config, random_init=True)
    model = build_model(cfg).eval()
    clock = time.process_time if args.clock == 'cpu' else time.perf_counter
    timer = instrument(model, clock)
    data = random_batch(config_scope(cfg), *args.size)
    rows = []
    for budget in args.budgets:
        if budget is not None:
            model.backbone.set_core_budgets(budget)
        rows.append(dict(budget=budget if budget is not None else
                         model.backbone.core_budgets,
                         times=time_parts(model, timer, data, args.repeats,
                                          clock)))
    return dict(status='ok', rows=rows,
                peak_rss_mib=bench.peak_rss_bytes() / 2**20,
                threads=torch.get_num_threads(),
                cuda=torch.cuda.is_available())


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args._case:
        bench.print_result(child(args))
        return None
    if any(b is not None for b in args.budgets):
        from veca_mm.utils.cli import load_config
        from veca_mm.utils.core_budgets import check_core_budgets
        check_core_budgets(load_config(args.config), args.budgets,
                           '--budgets')
    res = bench.spawn_case(__file__, argv, {}, args.mem_limit_gb)
    if res['status'] != 'ok':
        sys.stderr.write(res.get('error', '') + '\n')
        raise SystemExit(f'benchmark child failed: {bench.status_text(res)}'
                         '; out of memory means --mem-limit-gb was too '
                         'small')
    h, w = args.size
    print(f'{osp.basename(args.config)}, {h}x{w}, batch 1, fp32, '
          f'{res["threads"]} threads, {args.clock} clock, median of '
          f'{args.repeats}; '
          f'peak RSS {res["peak_rss_mib"]:.0f} MiB')
    for row in res['rows']:
        t = row['times']
        used = 'compiled op' if t['msda compiled op'] > 0 else \
            'PyTorch path (grid_sample)'
        print(f'\ncore budget {row["budget"]}; MSDA ran: {used}\n')
        unit = 'CPU ms' if args.clock == 'cpu' else 'ms'
        print(f'| part | {unit} | share of whole |')
        print('|---|---:|---:|')
        for k, v in t.items():
            if k == 'msda compiled op' and v == 0:
                continue
            print(f'| {k} | {v * 1e3:.0f} | {100 * v / t["whole"]:.1f} % |')
    return res


if __name__ == '__main__':
    main()
