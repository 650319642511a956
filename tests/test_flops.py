"""FLOP / parameter formulas of veca_mm.utils.flops, by hand and against
torch's own counter, and the two analysis tools as subprocesses."""
import json
from contextlib import nullcontext
import subprocess
import sys

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from veca_mm.models.backbones.veca import ARCH_SETTINGS, VECA
from veca_mm.utils.flops import (veca_flops, veca_params, vit_flops,
                                 vit_params)

from .conftest import REPO

# D=32, L=2, 2 heads (head dim 16), F = int(32 * 2.0) = 64, bank of 16 cores.
ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, mlp_ratio=2.0,
            num_cores=16)


def test_veca_flops_by_hand():
    # 32x48 image, 16px patches: 2 x 3 = 6 patches; C = 8 cores -> T = 14.
    D, L, F, N, C, T = 32, 2, 64, 6, 8, 14
    got = veca_flops(ARCH, 32, 48, budget=8)
    assert got['num_patches'] == N and got['tokens'] == T
    # 1 multiply-add = 2 FLOPs.
    assert got['patch_embed'] == 2 * N * D * (3 * 16 * 16) == 294912
    assert got['qkv'] == L * 3 * (2 * T * D * D) == 172032
    assert got['out_proj'] == L * 2 * T * D * D == 57344
    assert got['ffn'] == L * (2 * T * D * 2 * F + 2 * T * F * D) == 344064
    assert got['pos'] == (L - 1) * 2 * C * D * 2 == 1024
    # QK^T and AV: 8 core queries x 14 keys + 6 patch queries x 8 core keys,
    # each a D-long dot product (summed over the heads).
    assert got['attention'] == L * 2 * 2 * (C * T + N * C) * D == 40960
    assert C * T + N * C == 2 * N * C + C * C
    assert got['linear'] == 172032 + 57344 + 344064 + 1024
    assert got['total'] == 294912 + got['linear'] + 40960 == 910336


def test_vit_flops_by_hand():
    # Same image, D=32, 2 layers, MLP ratio 4: 6 patches + 1 CLS = 7 tokens.
    D, L, F, N, T = 32, 2, 128, 6, 7
    got = vit_flops(D, L, 4.0, 32, 48)
    assert got['tokens'] == T
    assert got['patch_embed'] == 2 * N * D * 768
    assert got['qkv'] == L * 2 * T * D * 3 * D
    assert got['out_proj'] == L * 2 * T * D * D
    assert got['ffn'] == L * (2 * T * D * F + 2 * T * F * D)
    assert got['attention'] == L * 2 * 2 * T * T * D == 12544
    assert got['total'] == (got['patch_embed'] + got['qkv'] +
                            got['out_proj'] + got['ffn'] + got['attention'])
    # No prefix token: T = N.
    assert vit_flops(D, L, 4.0, 32, 48, num_prefix_tokens=0)['attention'] \
        == L * 4 * N * N * D


def test_padding_to_patch_multiples():
    # 17x33 pads to 32x48; 33x47 to 48x48 (3 x 3 = 9 patches).
    assert veca_flops(ARCH, 17, 33, 8) == veca_flops(ARCH, 32, 48, 8)
    assert veca_flops(ARCH, 33, 47, 8)['num_patches'] == 9
    assert vit_flops(32, 2, 4., 17, 33) == vit_flops(32, 2, 4., 32, 48)


def test_per_stage_budgets():
    assert veca_flops(ARCH, 64, 64, (8, 8)) == veca_flops(ARCH, 64, 64, 8)
    a, b = veca_flops(ARCH, 64, 64, 16), veca_flops(ARCH, 64, 64, 8)
    mixed = veca_flops(ARCH, 64, 64, (16, 8))
    # Layer 0 runs with 16 cores, layer 1 with 8; the coordinate update
    # between them sees the 16 cores leaving layer 0.
    assert mixed['attention'] == (a['attention'] + b['attention']) // 2
    assert mixed['pos'] == a['pos']
    with pytest.raises(ValueError):
        veca_flops(ARCH, 64, 64, (8, 8, 8))
    with pytest.raises(ValueError):
        veca_flops(ARCH, 64, 64, 24)  # more than the bank


def test_attention_linear_in_patches_vs_quadratic():
    # Images 16 x 16n have n patches. VECA attention is affine in N at a
    # fixed C (zero second difference); ViT's is quadratic.
    arch = ARCH_SETTINGS['base']
    va = [veca_flops(arch, 16, 16 * n, 64)['attention'] for n in (100, 200,
                                                                  300)]
    da = [vit_flops(768, 12, 4., 16, 16 * n)['attention'] for n in (100, 200,
                                                                    300)]
    assert va[2] - va[1] == va[1] - va[0] == 12 * 4 * 768 * 2 * 64 * 100
    assert (da[2] - da[1]) - (da[1] - da[0]) == 12 * 4 * 768 * 2 * 100**2
    # 4x the patches: VECA attention ~4x, ViT attention ~16x.
    v1 = veca_flops(arch, 1024, 1024, 64)['attention']
    v2 = veca_flops(arch, 2048, 2048, 64)['attention']
    d1 = vit_flops(768, 12, 4., 1024, 1024)['attention']
    d2 = vit_flops(768, 12, 4., 2048, 2048)['attention']
    assert 3.9 < v2 / v1 < 4.0
    assert 15.9 < d2 / d1 < 16.0
    # so the total FLOP advantage grows with the image.
    ratios = [vit_flops(768, 12, 4., s, s)['total'] /
              veca_flops(arch, s, s, 64)['total'] for s in (512, 1024, 2048)]
    assert 1 < ratios[0] < ratios[1] < ratios[2]


def _counted(model, x, math_attention: bool):
    ctx = sdpa_kernel(SDPBackend.MATH) if math_attention else nullcontext()
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), ctx, counter:
        model(x)
    counts = {str(k): v for k, v in counter.get_flop_counts()['Global'].items()}
    return counts


@pytest.mark.parametrize('budget', [8, (16, 8)])
def test_veca_against_torch_flop_counter(budget):
    torch.manual_seed(0)
    model = VECA(arch=ARCH, core_budgets=budget).eval()
    x = torch.randn(1, 3, 32, 48)
    want = veca_flops(ARCH, 32, 48, budget)
    # Conv and Linear layers are always counted (convolution, addmm/mm).
    counts = _counted(model, x, math_attention=False)
    dense = sum(v for k, v in counts.items()
                if k in ('aten.convolution', 'aten.addmm', 'aten.mm'))
    assert dense == want['patch_embed'] + want['linear']
    # The fused CPU SDPA kernel may or may not be counted; the math backend
    # spells attention out as batched matmuls, which are.
    counts = _counted(model, x, math_attention=True)
    assert counts.get('aten.bmm', 0) == want['attention']
    assert sum(counts.values()) == want['total']


def test_vit_against_torch_flop_counter():
    pytest.importorskip('timm')
    from timm.models.vision_transformer import VisionTransformer
    model = VisionTransformer(img_size=32, patch_size=16, embed_dim=32,
                              depth=2, num_heads=2, mlp_ratio=4.,
                              num_classes=0, dynamic_img_size=True).eval()
    counts = _counted(model.forward_features, torch.randn(1, 3, 32, 48),
                      math_attention=True)
    want = vit_flops(32, 2, 4., 32, 48)
    assert counts.get('aten.bmm', 0) == want['attention']
    assert sum(counts.values()) == want['total']
    assert vit_params(32, 2, 4., pos_grid=2) == sum(
        p.numel() for p in model.parameters())


@pytest.mark.parametrize('patch_norm', [False, True])
def test_veca_params(patch_norm):
    model = VECA(arch=ARCH, patch_norm=patch_norm)
    assert veca_params(ARCH, patch_norm=patch_norm) == sum(
        p.numel() for p in model.parameters())


def test_get_flops_cli():
    out = subprocess.run(
        [sys.executable, str(REPO / 'tools/analysis_tools/get_flops.py'),
         '--arch', 'small', '--budgets', '8', '64', '--sizes', '32x48'],
        capture_output=True, text=True, timeout=300, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert 'VECA GFLOPs' in out.stdout and 'ViT/VECA' in out.stdout
    rows = [line for line in out.stdout.splitlines()
            if line.startswith('| 32x48 |')]
    assert len(rows) == 2
    cells = [c.strip() for c in rows[0].strip('|').split('|')]
    assert cells[1:3] == ['6', '8']
    small = ARCH_SETTINGS['small']
    assert cells[3] == f"{veca_flops(small, 32, 48, 8)['total'] / 1e9:,.1f}"
    assert cells[-2] == f'{veca_params(small) / 1e6:.2f}'


def test_benchmark_cli_smoke(tmp_path):
    out_json = tmp_path / 'bench.json'
    out = subprocess.run(
        [sys.executable,
         str(REPO / 'tools/analysis_tools/benchmark_backbone.py'), '--arch',
         'small', '--budget', '8', '--sizes', '32', '--repeats', '1',
         '--warmup', '0', '--threads', '1', '--out', str(out_json)],
        capture_output=True, text=True, timeout=300, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert 'speedup / FLOP ratio' in out.stdout
    assert 'VECA-small (C=8)' in out.stdout
    res = json.loads(out_json.read_text())['results']
    assert {r['model'] for r in res} == {'veca', 'vit'}
    assert all('error' not in r and r['median_s'] > 0 for r in res)
