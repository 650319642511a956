# Copyright (c) veca_mm contributors. Apache-2.0.
"""Peak memory and time of whole-model inference at real sizes: plain whole,
tiled-head whole and mmseg's slide, for VECA and its dense / windowed ViT
twins (the same neck and head).

    python tools/analysis_tools/benchmark_memory.py \\
        configs/veca_upernet_cityscapes.py --modes whole tiled slide \\
        --sizes 1024x2048 3648x5472 --dtype fp32 --mem-limit-gb 20

Every case (backbone x mode x size x dtype) runs in a fresh process under
``RLIMIT_AS`` (``--mem-limit-gb``): running out of memory is a result
("out of memory at 20.0 GiB"), not a lost table; any other failure makes the
tool exit non-zero. A case builds the config's model (random weights:
memory and time do not depend on them), then times one
``model.inference(x, metas)`` on a random image, batch 1: what
``tools/test.py`` runs per image before the metric (backbone, neck, head,
the resize of the logits to the image), with ``test_cfg`` set by the mode:

* ``whole``: ``mode='whole'``, the head on the whole pyramid;
* ``tiled``: ``mode='whole', head_tile=--head-tile``: the backbone on the
  whole image, neck + head over tiles of its maps
  (:class:`veca_mm.models.TiledHeadEncoderDecoder`);
* ``slide``: ``mode='slide'`` with ``--slide-crop`` windows (default: the
  config's crop size) at ``--slide-stride`` (default: 2/3 of the window).

Peak memory is the resident set's peak during that call above the resident
set before it (Linux ``VmHWM``). ``--split`` also times the backbone alone
(a second call) so that neck + head = total - backbone. ``--anchors`` lists
configs whose ``model.backbone`` replaces the subject's (default: none; the
dense and windowed ViT-B twins are
``configs/veca/segformer_vit-b16_8xb2-80k_cityscapes-512x1024.py`` and
``segformer_vitdet-b16_...``): the neck and head stay the subject's.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

from veca_mm.utils import bench
from veca_mm.utils.cli import load_config, parse_size

TILED_TYPES = dict(EncoderDecoder='TiledHeadEncoderDecoder',
                   DepthEstimator='TiledHeadDepthEstimator')
MODES = ('whole', 'tiled', 'slide')


def case_config(args, case: dict):
    """The subject config set up for one case (mode, backbone, size)."""
    cfg = load_config(args.config, args.cfg_options, random_init=True)
    if case['backbone_from']:
        cfg.model.backbone = load_config(case['backbone_from']
                                         ).model.backbone
        cfg.model.backbone.init_cfg = None
    bb = cfg.model.backbone
    if bb.get('type') == 'TIMMBackbone':
        bb.pretrained = False
        if 'img_size' in bb:  # a windowed ViT is built at the image size
            bb.img_size = tuple(case['size'])
    model_type = cfg.model.get('type', 'EncoderDecoder')
    cfg.model.type = TILED_TYPES.get(model_type, model_type)
    test_cfg = dict(mode='whole')
    if case['mode'] == 'tiled':
        test_cfg['head_tile'] = args.head_tile
    elif case['mode'] == 'slide':
        crop = args.slide_crop or list(cfg.crop_size)
        stride = args.slide_stride or [-(-2 * c // 3) for c in crop]
        test_cfg.update(mode='slide', crop_size=crop, stride=stride)
    cfg.model.test_cfg = test_cfg
    return cfg


def run_case(args, case: dict) -> dict:
    """Worker: one inference call; its peak memory and time."""
    import torch

    from veca_mm.utils.cli import build_model
    if args.threads:
        torch.set_num_threads(args.threads)
    res = dict(case, threads=torch.get_num_threads())
    with bench.oom_as_result(res):
        torch.manual_seed(0)
        model = build_model(case_config(args, case)).eval()
        h, w = case['size']
        x = torch.randn(1, 3, h, w)
        metas = [dict(ori_shape=(h, w), img_shape=(h, w), pad_shape=(h, w),
                      padding_size=[0, 0, 0, 0])]
        times = []

        def step():
            t0 = time.perf_counter()
            with torch.inference_mode(), bench.autocast(case['dtype']):
                model.inference(x, metas)
            times.append(time.perf_counter() - t0)
        res.update(bench.measure_peak_rss(step))
        for _ in range(args.repeats):
            step()
        res.update(status='ok', time_s=min(times), times_s=times)
        if args.split:
            t0 = time.perf_counter()
            with torch.inference_mode(), bench.autocast(case['dtype']):
                model.backbone(x)
            res['backbone_s'] = time.perf_counter() - t0
    return res


def label(path):
    return osp.splitext(osp.basename(path))[0] if path else 'subject'


def markdown(rows: list) -> str:
    lines = ['| backbone | mode | size | dtype | time (s) | backbone (s) | '
             'peak mem (GiB) |', '|---|---|---|---|---:|---:|---:|']
    for r in rows:
        size = 'x'.join(str(s) for s in r['size'])
        if r['status'] != 'ok':
            cells = [bench.status_text(r), '', '']
        else:
            cells = [f'{r["time_s"]:.1f}',
                     f'{r["backbone_s"]:.1f}' if 'backbone_s' in r else '-',
                     f'{r["mem_bytes"] / 2**30:.2f}']
        lines.append('| ' + ' | '.join(
            [r['backbone'], r['mode'], size, r['dtype']] + cells) + ' |')
    return '\n'.join(lines)


def parse_args(argv):
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('--modes', nargs='+', default=list(MODES), choices=MODES)
    p.add_argument('--sizes', nargs='+', type=parse_size, required=True,
                   help='H W pairs as HxW, e.g. 1024x2048')
    p.add_argument('--dtype', nargs='+', default=['fp32'],
                   choices=sorted(bench.DTYPES))
    p.add_argument('--anchors', nargs='*', default=[],
                   help='configs whose backbone replaces the subject\'s')
    p.add_argument('--head-tile', type=int, default=1024,
                   help='tiled mode: tile size in input pixels')
    p.add_argument('--slide-crop', type=int, nargs=2, default=None)
    p.add_argument('--slide-stride', type=int, nargs=2, default=None)
    p.add_argument('--repeats', type=int, default=0,
                   help='timed calls after the first (which is timed too)')
    p.add_argument('--split', action='store_true',
                   help='also time the backbone alone')
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--mem-limit-gb', type=float, default=20.,
                   help='RLIMIT_AS of every case process (0: none)')
    p.add_argument('--case-timeout', type=float, default=None)
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    p.add_argument('--out', default=None, help='save the results as JSON')
    p.add_argument('--_case', default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for path in [args.config] + args.anchors:
        if not osp.isfile(path):
            p.error(f'config {path} not found')
    if args.repeats < 0 or args.head_tile < 1:
        p.error('--repeats must be >= 0 and --head-tile >= 1')
    return args


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if bench.run_if_case(args, run_case):
        return 0
    cases = [dict(backbone_from=a, backbone=label(a), mode=m,
                  size=list(s), dtype=d)
             for s in args.sizes for d in args.dtype
             for a in [None] + args.anchors for m in args.modes]
    print(f'{args.config}: {len(cases)} case processes, RLIMIT_AS '
          f'{args.mem_limit_gb:g} GiB', flush=True)
    load0, rows = os.getloadavg(), []
    for i, case in enumerate(cases):
        r = bench.spawn_case(__file__, argv, case, args.mem_limit_gb,
                             args.case_timeout)
        rows.append(r)
        msg = (f'{r["time_s"]:.1f} s, {r["mem_bytes"] / 2**30:.2f} GiB'
               if r['status'] == 'ok' else bench.status_text(r))
        print(f'  [{i + 1}/{len(cases)}] {case["backbone"]} {case["mode"]} '
              f'{case["size"]} {case["dtype"]}: {msg}', file=sys.stderr,
              flush=True)
        if r['status'] == 'error':
            print(r['error'], file=sys.stderr)
    load1 = os.getloadavg()
    print(f'\nload average {load0[0]:.2f} -> {load1[0]:.2f}\n')
    print(markdown(rows))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(config=args.config, argv=argv, rows=rows,
                           loadavg=[load0, load1], cpu=bench.cpu_report()),
                      f, indent=1)
        print(f'saved {args.out}')
    if any(r['status'] == 'error' for r in rows):
        print('some case(s) FAILED (not out of memory)', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
