# Copyright (c) veca_mm contributors. Apache-2.0.
"""GFLOPs and parameters of a VECA backbone beside the dense ViT/16 of the
same width, per core budget and input size.

    python tools/analysis_tools/get_flops.py --arch base \
        --budgets 8 16 32 64 --sizes 512 1024 2048

FLOPs come from the formulas in ``veca_mm/utils/flops.py`` (1 multiply-add =
2 FLOPs; matrix products only: patch conv, Linear layers, QKᵀ and AV; batch
1; backbone features only, no neck/head/classifier). Parameters are counted on
the models themselves (``VECA(arch)``, and timm's ViT with ``num_classes=0``;
both built on the meta device, so no memory or time is spent on weights).
``ViT/VECA`` is the FLOP ratio: how many times fewer FLOPs VECA needs.
"""
import argparse
from typing import List, Tuple

from veca_mm.utils.cli import build_model, load_config, parse_size
from veca_mm.utils.core_budgets import check_core_budgets, is_veca
from veca_mm.utils.flops import VECA_TO_VIT, VIT_ARCHS, veca_flops, vit_flops

DEFAULT_BUDGETS = (8, 16, 32, 64)


def count_params(build) -> int:
    """Parameters of the module ``build()`` makes, built on the meta device
    when possible."""
    import torch
    try:
        with torch.device('meta'):
            model = build()
    except Exception:  # some init code insists on real tensors
        model = build()
    return sum(p.numel() for p in model.parameters())


def veca_param_count(arch: str) -> int:
    from veca_mm.models.backbones.veca import VECA
    return count_params(lambda: VECA(arch=arch))


def vit_param_count(name: str) -> int:
    import timm
    return count_params(lambda: timm.create_model(
        name, pretrained=False, dynamic_img_size=True, num_classes=0))


def fmt_g(flops: int) -> str:
    return f'{flops / 1e9:,.1f}'


def build_table(arch: str, budgets: List[int], sizes: List[Tuple[int, int]],
                vit: str, veca_params: int, vit_params: int) -> str:
    from veca_mm.models.backbones.veca import ARCH_SETTINGS
    a = ARCH_SETTINGS[arch]
    v = VIT_ARCHS[vit]
    head = ('| size (HxW) | patches N | budget C | VECA GFLOPs | VECA attn '
            f'GFLOPs | {vit} GFLOPs | ViT attn GFLOPs | ViT/VECA | VECA params '
            '(M) | ViT params (M) |')
    lines = [head, '|' + '---|' * head.count(' | ') + '---|']
    for (h, w) in sizes:
        d = vit_flops(v['embed_dims'], v['depth'], v['mlp_ratio'], h, w)
        for c in budgets:
            e = veca_flops(a, h, w, c)
            lines.append(
                f'| {h}x{w} | {e["num_patches"]} | {c} | {fmt_g(e["total"])} '
                f'| {fmt_g(e["attention"])} | {fmt_g(d["total"])} '
                f'| {fmt_g(d["attention"])} | {d["total"] / e["total"]:.2f} '
                f'| {veca_params / 1e6:.2f} | {vit_params / 1e6:.2f} |')
    return '\n'.join(lines)


def config_budgets(args, cfg, backbone) -> list:
    """--budgets checked by the model's own rules, or the default budgets
    this backbone's bank and chunk allow; [None] for a non-VECA backbone."""
    if args.budgets:  # a non-VECA backbone: the one error for --budgets
        return check_core_budgets(cfg, args.budgets, '--budgets')
    if not is_veca(backbone):  # e.g. an anchor
        return [None]
    return [b for b in DEFAULT_BUDGETS if b <= backbone.num_cores
            and b % backbone.core_chunk == 0] or [backbone.num_cores]


def config_table(args):
    """Whole-model GFLOPs of a config per budget, on the meta device."""
    import torch

    from veca_mm.utils.flops import config_test_size, measured_flops

    cfg = load_config(args.config, random_init=True)
    sizes = args.sizes or [config_test_size(cfg)]
    model = build_model(cfg, meta=True).eval()
    budgets = config_budgets(args, cfg, model.backbone)
    print(f'# {args.config}: whole-model GFLOPs, batch 1 '
          '(FlopCounterMode: matmul, conv, attention)\n')
    print('| size | ' + ' | '.join(f'C={b}' if b else 'GFLOPs'
                                    for b in budgets) + ' |')
    print('|---|' + '---:|' * len(budgets))
    rows = {}
    for h, w in sizes:
        x = torch.empty(1, 3, h, w, device='meta')
        cells = []
        for b in budgets:
            if b is not None:
                model.backbone.set_core_budgets(b)
            with torch.no_grad():
                flops = measured_flops(lambda: model(x, mode='tensor'))
            rows[(h, w, b)] = flops
            cells.append(f'{flops / 1e9:.1f}')
        print(f'| {h}x{w} | ' + ' | '.join(cells) + ' |')
    return rows


def main(argv=None):
    from veca_mm.models.backbones.veca import ARCH_SETTINGS
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--arch', default='base', choices=sorted(ARCH_SETTINGS))
    p.add_argument('--budgets', type=int, nargs='+', default=None,
                   help='core budgets C: multiples of the model\'s '
                   'core_chunk, at most its bank (default: '
                   f'{" ".join(map(str, DEFAULT_BUDGETS))}, those allowed)')
    p.add_argument('--core-chunk', type=int, default=None,
                   help="VECA's core_chunk for the formula table (default: "
                   "VECA's default)")
    p.add_argument('--sizes', type=parse_size, nargs='+',
                   default=None,
                   help='input sizes, N or HxW (padded up to 16; default '
                   '512 1024 2048, or the test size with --config)')
    p.add_argument('--vit', default=None, choices=sorted(VIT_ARCHS),
                   help='dense ViT to compare with (default: the one of the '
                   'same width: small/splus->ViT-S, base->ViT-B, '
                   'large->ViT-L)')
    p.add_argument('--config', default=None,
                   help='instead: whole-model FLOPs (backbone + neck + head) '
                   'of this config at its test size (or --sizes), per '
                   'budget, counted by torch FlopCounterMode')
    args = p.parse_args(argv)
    if args.config:
        return config_table(args)
    args.sizes = args.sizes or [(512, 512), (1024, 1024), (2048, 2048)]
    bank = ARCH_SETTINGS[args.arch]['num_cores']
    # The model's own budget check (multiple of its core_chunk, at most its
    # bank), on the meta device: no weights are made.
    import torch
    from veca_mm.models.backbones.veca import VECA
    kw = {} if args.core_chunk is None else dict(core_chunk=args.core_chunk)
    try:
        with torch.device('meta'):
            model = VECA(arch=args.arch, **kw)
    except ValueError as e:
        p.error(f'--core-chunk {args.core_chunk}: {e}')
    args.budgets = args.budgets or [
        b for b in DEFAULT_BUDGETS if b % model.core_chunk == 0] or [bank]
    for c in args.budgets:
        try:
            model.set_core_budgets(c)
        except ValueError as e:
            p.error(f'--budgets {c}: {e}')
    vit = args.vit or VECA_TO_VIT[args.arch]
    print(f'# VECA-{args.arch} vs {vit}: per-image FLOPs of the backbone '
          '(1 multiply-add = 2 FLOPs; conv + Linear + QK^T + AV, '
          'element-wise ops excluded)\n')
    print(build_table(args.arch, args.budgets, args.sizes, vit,
                      veca_param_count(args.arch), vit_param_count(vit)))
    print(f'\nVECA params include the whole {bank}-core bank (independent of '
          'the budget); ViT params exclude the classifier head. '
          'ViT/VECA = dense FLOPs / VECA FLOPs.')


if __name__ == '__main__':
    main()
