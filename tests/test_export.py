"""RoPE's real-arithmetic path, ONNX export at several sizes from one file,
torch.compile (parity and the recompile bound) and bf16 autocast."""
import math
import os

import pytest
import torch
import torch.nn as nn
from mmengine.logging import MessageHub

import veca_mm.models.backbones.veca as veca_module
from veca_mm.models.backbones import VECA
from veca_mm.models.backbones.veca import RoPE2d, apply_rope

from .conftest import REPO, TINY_ARCH, load_tool

MINI_NYU = REPO / 'configs/mini/depth-fpn_veca-t_1xb2-20_mini-nyu-64x64.py'


def spec_freqs(head_dim):
    """2*pi/period, period_i = 100^(2i/(h/2)); the last round(h/4 / 8)
    periods infinite (veca_spec.md, item 6), computed independently."""
    n = head_dim // 4
    n_zero = round(0.125 * n)
    return torch.tensor([
        0. if i >= n - n_zero else 2 * math.pi / 100**(2 * i / (head_dim // 2))
        for i in range(n)
    ])


def complex_rope(x, pos, head_dim):
    """The former complex-number RoPE: pair i times exp(1j * theta_i)."""
    freqs = spec_freqs(head_dim)
    ang = torch.cat((pos[..., :1] * freqs, pos[..., 1:] * freqs), dim=-1)
    cis = torch.polar(torch.ones_like(ang), ang)[:, :, None, None]
    xc = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(xc * cis).flatten(-2)


@pytest.mark.parametrize('head_dim', [32, 64])
def test_real_rope_matches_complex_reference(head_dim):
    torch.manual_seed(0)
    pos = torch.rand(2, 40, 2) * 2 - 1
    x = torch.randn(2, 40, 2, 3, head_dim)
    cis = RoPE2d(head_dim).cis(pos)[:, :, None, None]
    ref = complex_rope(x, pos, head_dim)
    out = apply_rope(x, cis)
    assert out.dtype == torch.float32
    assert (out - ref).abs().max() <= 1e-6
    # a rotation keeps every pair's norm; zeroed periods leave pairs alone
    norms = lambda t: t.unflatten(-1, (-1, 2)).norm(dim=-1)  # noqa: E731
    torch.testing.assert_close(norms(out), norms(x))
    n_zero = round(0.125 * (head_dim // 4))
    still = [i for i in range(head_dim // 2) if i % (head_dim // 4) >=
             head_dim // 4 - n_zero]
    pairs = torch.tensor(still)
    torch.testing.assert_close(out.unflatten(-1, (-1, 2))[..., pairs, :],
                               x.unflatten(-1, (-1, 2))[..., pairs, :])
    # bf16 in, bf16 out (no fp32 copy); within two bf16 roundings of a pair
    xb = x.bfloat16()
    outb = apply_rope(xb, cis)
    assert outb.dtype == torch.bfloat16
    err = (outb.float() - complex_rope(xb.float(), pos, head_dim)).abs()
    assert (err <= 4 * 2**-8 * norms(xb.float()).repeat_interleave(2, -1)
            ).all()


def tiny_backbone(num_layers=4, **kw):
    torch.manual_seed(0)
    m = VECA(arch=dict(TINY_ARCH, num_layers=num_layers), patch_size=8,
             out_indices=(0, num_layers - 1), init_cfg=None, **kw)
    m.init_weights()
    return m


def test_bf16_autocast_within_tolerance_and_native_rope_costs_nothing(
        monkeypatch):
    """bf16 autocast vs fp32: relative L2 error of the feature maps <= 2e-2
    (VECA-B at 512: 7e-3, tools/analysis_tools/benchmark_backbone.py
    --rel-error); computing RoPE itself in bf16 adds no error beyond an
    fp32 RoPE under the same autocast."""
    model = tiny_backbone(core_budgets=16).eval()
    x = torch.randn(2, 3, 64, 96)

    def errors():
        with torch.no_grad():
            ref = model(x)
            with torch.autocast('cpu', torch.bfloat16):
                out = model(x)
        return [float((o.float() - r).norm() / r.norm())
                for o, r in zip(out, ref)]

    native = errors()
    # the same rotation computed in fp32 (exact, see the test above)
    monkeypatch.setattr(veca_module, 'apply_rope',
                        lambda t, cis: apply_rope(t.float(), cis).to(t.dtype))
    fp32_rope = errors()
    assert max(native) <= 2e-2, native
    assert max(native) <= 1.5 * max(fp32_rope) + 1e-3, (native, fp32_rope)


@pytest.mark.skipif(
    os.environ.get('ATEN_CPU_CAPABILITY') == 'default',
    reason='torch 2.14 inductor emits at::vec kernels that do not compile '
    'when ATen is forced to its portable kernels (ATEN_CPU_CAPABILITY='
    'default): a torch limitation, not ours')
def test_compiled_backbone_matches_eager():
    """Inductor on CPU: same feature maps as eager (fp32). Two layers keep
    the compile short; every layer is the same code."""
    model = tiny_backbone(num_layers=2, core_budgets=16).eval()
    compiled = torch.compile(model)
    x = torch.randn(1, 3, 32, 48)
    with torch.no_grad():
        ref, out = model(x), compiled(x)
    for o, r in zip(out, ref):
        torch.testing.assert_close(o, r, atol=1e-5, rtol=1e-4)


def test_recompiles_bounded_with_nested_budgets():
    """Training with nested budgets compiles one graph per budget (plus the
    budget-independent prefix), never one per iteration: after every budget
    has been drawn, later iterations compile nothing. Eval at a second image
    size adds at most one (dynamic-shape) graph."""
    graphs = []

    def counting_backend(gm, example_inputs):  # public custom-backend API
        graphs.append(len(gm.graph.nodes))
        return gm.forward

    torch.compiler.reset()
    budgets = (8, 16)
    model = tiny_backbone(num_layers=2, core_budgets=16,
                          train_core_budgets=dict(budgets=budgets)).train()
    compiled = torch.compile(model, backend=counting_backend)
    hub = MessageHub.get_instance('test_recompiles_bounded')
    x = torch.randn(2, 3, 32, 48)
    seen, counts = set(), []
    try:
        for it in range(10):  # more iterations than dynamo's recompile limit
            hub.update_info('iter', it)  # as mmengine's runner does
            out = compiled(x)
            sum(o.sum() for o in out).backward()
            seen.add(model.last_budgets)
            counts.append((len(seen), len(graphs)))
    finally:
        hub.runtime_info.pop('iter', None)
    assert seen == {(8, ), (16, )}
    all_seen_at = next(i for i, (n, _) in enumerate(counts) if n == 2)
    assert counts[-1][1] == counts[all_seen_at][1], counts
    # prefix (patch embedding, budget draw) + one graph per budget
    assert len(graphs) <= len(budgets) + 2, graphs
    train_graphs = len(graphs)
    model.eval()
    with torch.no_grad():
        for size in [(32, 48), (48, 64), (64, 32), (32, 48)]:
            compiled(torch.randn(1, 3, *size))
    assert len(graphs) - train_graphs <= 2, graphs  # eval + dynamic shape
    torch.compiler.reset()


def test_shape_free_adaptive_pool_matches_pytorch():
    p2o = load_tool('tools/deployment/pytorch2onnx.py')
    for out in (1, 2, 3, 6, (2, None)):
        for hw in ((3, 4), (7, 11), (24, 36), (2, 5)):
            x = torch.randn(2, 3, *hw)
            torch.testing.assert_close(
                p2o.ShapeFreeAdaptiveAvgPool2d(out)(x),
                nn.AdaptiveAvgPool2d(out)(x), atol=1e-6, rtol=1e-5)
    wrapped = p2o.make_shape_free(nn.Sequential(nn.AdaptiveAvgPool2d(3)))
    assert isinstance(wrapped[0], p2o.ShapeFreeAdaptiveAvgPool2d)


@pytest.fixture(scope='module')
def depth_checkpoint(tmp_path_factory):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner.checkpoint import save_checkpoint
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(MINI_NYU).model)
    path = str(tmp_path_factory.mktemp('onnx') / 'depth.pth')
    save_checkpoint(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path


def test_onnx_one_file_runs_at_two_sizes(depth_checkpoint, tmp_path):
    """The whole depth model (VECA + neck + head) exported once with dynamic
    height and width runs in onnxruntime at two other sizes, within 1e-4 of
    PyTorch (the tool raises SystemExit otherwise)."""
    pytest.importorskip('onnxruntime')
    p2o = load_tool('tools/deployment/pytorch2onnx.py')
    out = tmp_path / 'depth.onnx'
    errs = p2o.main([str(MINI_NYU), depth_checkpoint, '--core-budgets', '8',
                     '--shape', '64', '96', '--out', str(out), '--dynamic',
                     '--check-shape', '96', '64', '--check-shape', '128',
                     '160'])
    assert out.is_file()
    assert set(errs) == {(64, 96), (96, 64), (128, 160)}
    assert max(errs.values()) <= 1e-4
    with pytest.raises(ValueError, match='multiple of the patch size'):
        p2o.check_shape(60, 64, 8)
