# Copyright (c) veca_mm contributors. Apache-2.0.
"""Whole-model inference time: VECA vs a dense ViT-B with the same neck+head.

Builds the config's model (backbone + neck + head) twice, once with its VECA
backbone and once with timm's dense ViT-B/16 (``dynamic_img_size=True``,
fused SDPA attention) returning the same layers, and times both in one run at
the config's test size; the whole-model FLOP ratio (``FlopCounterMode`` on
meta copies, attention included) is printed beside the measured speedup.

    python tools/analysis_tools/benchmark_model.py configs/veca_upernet_cityscapes.py
"""
import argparse
import os.path as osp
import statistics
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

import veca_mm  # noqa: E402,F401
from veca_mm.utils.flops import config_test_size, measured_flops  # noqa: E402


class DenseViT(nn.Module):
    """timm's ViT as an mm backbone: stride-16 maps of chosen layers."""

    def __init__(self, embed_dims, depth, num_heads, out_indices,
                 final_norm=True, patch_size=16):
        super().__init__()
        import timm
        self.vit = timm.create_model(
            'vit_base_patch16_224', pretrained=False, dynamic_img_size=True,
            embed_dim=embed_dims, depth=depth, num_heads=num_heads,
            patch_size=patch_size, num_classes=0)
        self.out_indices = list(out_indices)
        self.final_norm = final_norm

    def forward(self, x):
        feats = self.vit.forward_intermediates(
            x, indices=self.out_indices, norm=self.final_norm,
            output_fmt='NCHW', intermediates_only=True)
        return tuple(feats)


def median_time(fn, repeats, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('--size', type=int, nargs=2, default=None,
                   metavar=('H', 'W'), help='default: the test pipeline size')
    p.add_argument('--repeats', type=int, default=2)
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--budgets', type=int, nargs='*', default=None,
                   help='VECA core budgets to time (default: the config\'s)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.model.backbone.init_cfg = None
    scope = cfg.get('default_scope', 'mmseg')
    init_default_scope(scope)
    from mmengine.registry import MODELS
    size = tuple(args.size) if args.size else config_test_size(cfg)
    model = MODELS.build(cfg.model).eval()
    veca = model.backbone
    dense_args = (veca.embed_dims, veca.num_layers, veca.num_heads,
                  veca.out_indices, veca.final_norm_enabled, veca.patch_size)
    dense = DenseViT(*dense_args).eval()
    x = torch.randn(1, 3, *size)
    # FLOPs are counted on weightless meta copies: there the attention
    # kernels are counted too (CPU's fused attention is invisible to
    # FlopCounterMode).
    with torch.device('meta'):
        meta_model = MODELS.build(cfg.model).eval()
        meta_dense = DenseViT(*dense_args).eval()
    meta_veca = meta_model.backbone
    meta_x = torch.empty(1, 3, *size, device='meta')

    def meta_flops(backbone):
        meta_model.backbone = backbone
        return measured_flops(lambda: meta_model(meta_x, mode='tensor'))
    print(f'{args.config}: whole model at {size[0]}x{size[1]}, batch 1, '
          f'fp32, {torch.get_num_threads()} threads', flush=True)

    def run(backbone):
        model.backbone = backbone
        return lambda: model(x, mode='tensor')

    rows = []
    budgets = args.budgets or [veca.core_budgets if len(
        veca.core_budgets) > 1 else veca.core_budgets[0]]
    with torch.inference_mode():
        dense_flops = meta_flops(meta_dense)
        dense_t = median_time(run(dense), args.repeats)
        rows.append(('dense ViT (timm)', '-', dense_flops, dense_t))
        print(f'  dense ViT: {dense_t:.2f} s', flush=True)
        for b in budgets:
            veca.set_core_budgets(b)
            meta_veca.set_core_budgets(b)
            flops = meta_flops(meta_veca)
            t = median_time(run(veca), args.repeats)
            rows.append(('VECA', b, flops, t))
            print(f'  VECA C={b}: {t:.2f} s', flush=True)
    print('\n| backbone | C | GFLOPs | time (s) | FLOP ratio | speedup | '
          'speedup / FLOP ratio |')
    print('|---|---|---:|---:|---:|---:|---:|')
    for name, b, flops, t in rows:
        ratio, speed = dense_flops / flops, dense_t / t
        print(f'| {name} | {b} | {flops / 1e9:.0f} | {t:.2f} | {ratio:.2f} | '
              f'{speed:.2f} | {speed / ratio:.2f} |')


if __name__ == '__main__':
    main()
