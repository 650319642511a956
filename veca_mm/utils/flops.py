# Copyright (c) veca_mm contributors. Apache-2.0.
"""Analytic FLOP and parameter counts for VECA and a dense ViT.

Conventions (the usual ones of fvcore / ``torch.utils.flop_counter``):

* **1 multiply-add = 2 FLOPs.** A ``Linear(i, o)`` applied to ``n`` tokens
  costs ``2·n·i·o`` FLOPs, a ``Conv2d`` ``2·(outputs)·(c_in·k·k)``.
* Only matrix products are counted: the patch-embedding convolution, every
  ``Linear`` and the two attention products (``QKᵀ`` and ``AV``). Element-wise
  work (bias adds, LayerNorm, softmax, RoPE, SiLU/GELU, residual adds, the
  ViT position-embedding interpolation) is left out; it is a few per cent at
  most.
* Per image (batch 1), one forward, inference. The input is padded up to a
  multiple of the patch size, as both backbones do.

VECA attention (per layer, ``C`` cores, ``N`` patches, ``T = C + N``): the
cores attend to all ``T`` keys and the patches to the ``C`` core keys, so each
of ``QKᵀ`` and ``AV`` costs ``(C·T + N·C)·D = (2NC + C²)·D`` multiply-adds
(summed over heads: ``heads · head_dim = D``). A dense ViT with ``T = N + p``
tokens (``p`` prefix/CLS tokens) costs ``T²·D`` for each.

Everything here is plain Python arithmetic (no torch), exact integers.
"""
import math
from typing import Dict, Sequence, Tuple, Union

from .stages import layer_budgets

__all__ = [
    'num_patches', 'veca_flops', 'vit_flops', 'veca_params', 'vit_params',
    'VIT_ARCHS', 'VECA_TO_VIT'
]

# Dense ViT/16 widths as timm builds them (``vit_*_patch16_224``).
VIT_ARCHS: Dict[str, dict] = {
    'vit_small_patch16_224': dict(embed_dims=384, depth=12, num_heads=6,
                                  mlp_ratio=4.0),
    'vit_base_patch16_224': dict(embed_dims=768, depth=12, num_heads=12,
                                 mlp_ratio=4.0),
    'vit_large_patch16_224': dict(embed_dims=1024, depth=24, num_heads=16,
                                  mlp_ratio=4.0),
}
# The dense ViT of the same width and depth as each VECA family.
VECA_TO_VIT = dict(small='vit_small_patch16_224',
                   splus='vit_small_patch16_224',
                   base='vit_base_patch16_224',
                   large='vit_large_patch16_224')


def _linear(n: int, i: int, o: int) -> int:
    """FLOPs of ``Linear(i, o)`` on ``n`` tokens (bias add not counted)."""
    return 2 * n * i * o


def num_patches(H: int, W: int, patch_size: int = 16) -> Tuple[int, int]:
    """The patch grid ``(Hp, Wp)`` after padding ``H, W`` up to the patch."""
    if H < 1 or W < 1 or patch_size < 1:
        raise ValueError(f'bad image size {H}x{W} / patch {patch_size}')
    return math.ceil(H / patch_size), math.ceil(W / patch_size)


def veca_flops(arch: dict, H: int, W: int,
               budget: Union[int, Sequence[int]],
               patch_size: int = 16, in_channels: int = 3) -> Dict[str, int]:
    """FLOPs (1 multiply-add = 2 FLOPs) of one VECA forward on an ``H×W`` image.

    Args:
        arch: dict with ``embed_dims, num_layers, mlp_ratio`` (as
            ``veca.ARCH_SETTINGS[...]``; ``num_heads`` does not matter).
        budget: the core budget ``C``, or one budget per stage.

    Returns:
        ``patch_embed``, ``qkv``, ``out_proj``, ``ffn``, ``pos`` (the core
        coordinate updates ``Linear(D, 2)``), ``linear`` (the sum of those
        four), ``attention`` (``QKᵀ`` + ``AV``), ``total``, plus ``num_patches``
        and ``tokens`` (of the first layer) for reference.
    """
    D, L = arch['embed_dims'], arch['num_layers']
    F = int(D * arch['mlp_ratio'])
    hp, wp = num_patches(H, W, patch_size)
    N = hp * wp
    Cs = layer_budgets(budget, L, 'budget')
    if 'num_cores' in arch and max(Cs) > arch['num_cores']:
        raise ValueError(f'budget {max(Cs)} > num_cores {arch["num_cores"]}')
    out = dict(patch_embed=2 * N * D * in_channels * patch_size**2,
               qkv=0, out_proj=0, ffn=0, pos=0, attention=0)
    for i, C in enumerate(Cs):
        T = C + N
        if i > 0:  # pos_linears[i-1] on the cores leaving layer i-1
            out['pos'] += _linear(Cs[i - 1], D, 2)
        out['qkv'] += 3 * _linear(T, D, D)
        out['out_proj'] += _linear(T, D, D)
        out['ffn'] += _linear(T, D, 2 * F) + _linear(T, F, D)
        # QK^T and AV: cores x all T keys + patches x C core keys, each
        # over the full width D (heads * head_dim).
        out['attention'] += 2 * 2 * (C * T + N * C) * D
    out['linear'] = out['qkv'] + out['out_proj'] + out['ffn'] + out['pos']
    out['total'] = out['patch_embed'] + out['linear'] + out['attention']
    out['num_patches'] = N
    out['tokens'] = Cs[0] + N
    return out


def vit_flops(embed_dims: int, depth: int, mlp_ratio: float, H: int, W: int,
              patch_size: int = 16, num_prefix_tokens: int = 1,
              in_channels: int = 3) -> Dict[str, int]:
    """FLOPs (1 multiply-add = 2 FLOPs) of a dense ViT's features
    (``forward_features``: no classifier head) on an ``H×W`` image.

    timm's block: ``qkv = Linear(D, 3D)``, ``proj``, MLP ``D → int(D·r) → D``
    with GELU, full attention over ``T = N + num_prefix_tokens`` tokens.
    Returns the same keys as :func:`veca_flops` (``pos`` is 0).
    """
    D, L = embed_dims, depth
    F = int(D * mlp_ratio)
    hp, wp = num_patches(H, W, patch_size)
    N = hp * wp
    T = N + num_prefix_tokens
    out = dict(patch_embed=2 * N * D * in_channels * patch_size**2,
               qkv=L * _linear(T, D, 3 * D),
               out_proj=L * _linear(T, D, D),
               ffn=L * (_linear(T, D, F) + _linear(T, F, D)),
               pos=0,
               attention=L * 2 * 2 * T * T * D)
    out['linear'] = out['qkv'] + out['out_proj'] + out['ffn']
    out['total'] = out['patch_embed'] + out['linear'] + out['attention']
    out['num_patches'] = N
    out['tokens'] = T
    return out


def veca_params(arch: dict, patch_size: int = 16, in_channels: int = 3,
                patch_norm: bool = False) -> int:
    """Parameters of ``VECA(arch)`` by formula (the whole core bank, whatever
    the budget; the backbone only, no neck or head)."""
    D, L, M = arch['embed_dims'], arch['num_layers'], arch['num_cores']
    F = int(D * arch['mlp_ratio'])
    n = D * in_channels * patch_size**2 + D  # patch conv
    n += 2 * D if patch_norm else 0
    n += M * D + M * 2  # core tokens and raw coordinates
    n += (L - 1) * (2 * D + 2) + (L - 1)  # pos_linears, pos_alpha
    block = 2 * 2 * D  # two LayerNorms
    block += 4 * (D * D + D)  # q, k, v, out
    block += D * 2 * F + 2 * F + F * D + D  # fc1, fc2
    dd = arch.get('distill_dims')
    n += dd * D + dd if dd and dd != D else 0  # distillation output_proj
    return n + L * block + 2 * D  # final LayerNorm


def vit_params(embed_dims: int, depth: int, mlp_ratio: float,
               patch_size: int = 16, in_channels: int = 3,
               num_prefix_tokens: int = 1, pos_grid: int = 14) -> int:
    """Parameters of a timm ViT without head (``num_classes=0``), with a
    learned ``pos_grid²`` (+ prefix) position embedding."""
    D, L = embed_dims, depth
    F = int(D * mlp_ratio)
    n = D * in_channels * patch_size**2 + D
    n += num_prefix_tokens * D + (pos_grid**2 + num_prefix_tokens) * D
    block = 2 * 2 * D + (D * 3 * D + 3 * D) + (D * D + D)
    block += (D * F + F) + (F * D + D)
    return n + L * block + 2 * D


def config_test_size(cfg) -> Tuple[int, int]:
    """The (H, W) an mm config's test pipeline feeds the model."""
    for t in cfg.test_dataloader.dataset.pipeline:
        if t['type'] == 'Resize' and t.get('scale'):
            w, h = t['scale']  # mm scales are (w, h)
            return (min(h, w), max(h, w)) if t.get('keep_ratio') else (h, w)
    raise ValueError('no Resize with a scale in the test pipeline; give the '
                     'size explicitly')


def measured_flops(fn) -> int:
    """FLOPs torch's FlopCounterMode counts for ``fn()`` (matmul, conv and
    attention kernels; works on the meta device)."""
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops()
