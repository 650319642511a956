"""The benchmark tools' code paths on tiny inputs, and the backbone's
low-precision weight cache. No timing is asserted anywhere: speed is
what the tools print (docs/benchmarks.md)."""
import json
import sys

import pytest
import torch

from .conftest import REPO, TINY_ARCH, load_tool

bb = load_tool('tools/analysis_tools/benchmark_backbone.py')
bm = load_tool('tools/analysis_tools/benchmark_model.py')
gf = load_tool('tools/analysis_tools/get_flops.py')

BASE = ['--arch', 'small', '--budget', '8', '--repeats', '1', '--warmup',
        '0', '--threads', '1']


def case(model, size=32, dtype='fp32', batch=1):
    return dict(model=model, size=[size, size], dtype=dtype, batch=batch,
                round=0)


def test_every_model_bf16_with_sdpa_report_and_profile():
    """Dense, windowed and VECA under bf16 autocast: each runs, the profile
    is split into op classes, and the SDPA kernel of each of VECA's two
    attention calls per layer is named."""
    args = bb.parse_args(BASE + ['--vitdet', 'samvit_base_patch16',
                                 '--sdpa-report', '--profile', '5'])
    assert args.models == ['veca', 'vit', 'vitdet']
    for model in args.models:
        r = bb.run_case(args, case(model, dtype='bf16'))
        assert r['status'] == 'ok' and r['median_s'] > 0, r
        assert r['mem_bytes'] >= 0 and 'aten::' in r['profile']
        shares = [c['share'] for c in r['profile_classes'].values()]
        assert sum(shares) == pytest.approx(1.0)
        calls = r['sdpa_backends']
        if model == 'veca':  # 12 layers, two calls each
            assert sum(calls['cores->all'].values()) == 12
            assert sum(calls['patches->cores'].values()) == 12
        else:
            assert sum(calls['all'].values()) == 12


def test_train_mode_with_checkpointing_row():
    args = bb.parse_args(BASE + ['--train', '--models', 'veca'])
    assert args.models == ['veca', 'veca-cp']
    for model in args.models:
        r = bb.run_case(args, case(model, size=48))
        assert r['status'] == 'ok' and r['mode'] == 'train', r


def test_compiled_row():
    """--compile adds a torch.compile'd VECA beside the eager one (the
    'eager' backend here: dynamo's path without inductor's C++ build)."""
    args = bb.parse_args(BASE + ['--compile', 'eager', '--models', 'veca'])
    assert args.models == ['veca', 'veca-compile']
    r = bb.run_case(args, case('veca-compile', size=48))
    assert r['status'] == 'ok', r
    assert bb.model_label(args, 'veca-compile').endswith('torch.compile')
    assert bb.count_flops('veca-compile', args, 48, 48) == bb.count_flops(
        'veca', args, 48, 48)


def test_first_call_and_low_precision_error_columns():
    """What benchmark_inference.py measured, folded in: the untimed first
    call (a compiled row compiles there) and, with --rel-error, the bf16
    output's relative L2 error against fp32, both in the table."""
    args = bb.parse_args(BASE + ['--models', 'veca', '--rel-error',
                                 '--dtype', 'fp32', 'bf16'])
    rows = [bb.run_case(args, case('veca', size=48, dtype=d))
            for d in ('fp32', 'bf16')]
    assert all(r['status'] == 'ok' and r['first_s'] > 0 for r in rows)
    assert 'rel_error' not in rows[0]
    assert 0 < rows[1]['rel_error'] < 2e-2, rows[1]
    flops = {('veca', (48, 48)): 1e9}
    table = bb.markdown(args, rows, flops, 'bf16', 1)
    assert 'first call (s) | rel. error vs fp32 |' in table
    assert table.splitlines()[-1].endswith(
        f'| {rows[1]["rel_error"]:.1e} |')
    with pytest.raises(SystemExit):
        bb.parse_args(BASE + ['--rel-error', '--train'])


def test_flops_counted_the_same_way_for_every_model():
    """FlopCounterMode on meta copies sees attention: the dense ViT's count
    equals the closed form with its N^2 attention products."""
    from veca_mm.utils.flops import VIT_ARCHS, vit_flops
    args = bb.parse_args(BASE + ['--vitdet', 'samvit_base_patch16'])
    v = VIT_ARCHS[args.vit]
    want = vit_flops(v['embed_dims'], v['depth'], v['mlp_ratio'], 64, 64)
    assert bb.count_flops('vit', args, 64, 64) == want['total']
    # windowed ViT-B: more than its linear layers alone (attention counted)
    vitdet = bb.count_flops('vitdet', args, 448, 448)
    lin = vit_flops(768, 12, 4.0, 448, 448, num_prefix_tokens=0)['linear']
    assert vitdet > lin
    train = bb.parse_args(BASE + ['--train'])
    assert bb.count_flops('veca', train, 64, 64) > 2 * bb.count_flops(
        'veca', args, 64, 64)  # backward ~ 2x forward


def test_oom_is_a_result_and_a_failure_exits_nonzero(tmp_path, capsys):
    """One run, two case processes: VECA's input alone (3.2 GB) cannot fit
    under the address-space limit (this process's own size, as big as a
    worker's, + 0.3 GiB): a reported result; the released factory cannot
    be imported: a real failure, so the run exits 1."""
    from veca_mm.utils.bench import proc_status_kib
    limit = (proc_status_kib('VmSize') * 1024 + 300 * 2**20) / 2**30
    out = tmp_path / 'b.json'
    rc = bb.main(BASE + ['--models', 'veca', '--sizes', '4096',
                         '--batch-size', '16', '--mem-limit-gb', str(limit),
                         '--case-timeout', '120',
                         '--released-factory', 'no_such_module_xyz:build',
                         '--out', str(out)])
    assert rc == 1
    rows = {r['model']: r for r in json.loads(out.read_text())['results']}
    assert rows['veca']['status'] == 'oom', rows['veca']
    assert bb.status_text(rows['veca']).startswith(
        f'out of memory at {limit:.1f} GiB (address-space limit')
    assert rows['released']['status'] == 'error'
    assert 'no_such_module_xyz' in rows['released']['error']
    cap = capsys.readouterr()
    assert 'FAILED' in cap.err and 'out of memory at' in cap.out


def test_tables_extrapolation_and_low_precision_refusal():
    args = bb.parse_args(BASE + ['--vitdet', 'samvit_base_patch16',
                                 '--dtype', 'fp32', 'bf16'])
    sizes = [(32, 32), (64, 64), (128, 128)]
    flops = {(m, s): (1 + (m != 'veca')) * s[0] * s[1] * 1e6
             for m in args.models for s in sizes}
    runs = []
    for r in range(2):
        for s in sizes[:2]:
            for dt in ('fp32', 'bf16'):
                for m in args.models:
                    t = s[0] * (2 if m != 'veca' else 1) * (
                        1.5 if (dt == 'bf16' and m == 'veca') else 1.0)
                    runs.append(dict(case(m, s[0], dt), round=r,
                                     status='ok', median_s=t * 1e-3,
                                     mem_bytes=s[0] * s[1] * 1000,
                                     mem_method='x'))
    runs[-1] = dict(runs[-1], status='oom', limit_bytes=12 * 2**30,
                    peak_bytes=11 * 2**30)  # vitdet 64 bf16, round 1
    rows = bb.aggregate(runs)
    rows += [bb.extrapolate(rows, flops, case(m, 128, dt))
             for m in ('vit', 'vitdet') for dt in ('fp32', 'bf16')]
    notes = '\n'.join(bb.low_precision_check(args, rows))
    assert 'bf16 is SLOWER than fp32 for VECA-small (C=8) at 64x64' in notes
    bf16 = bb.markdown(args, rows, flops, 'bf16', 1)
    fp32 = bb.markdown(args, rows, flops, 'fp32', 1)
    assert 'no claim' in bf16 and 'no claim' not in fp32
    assert 'out of memory at 12.0 GiB (address-space limit; peak RSS 11.0 ' \
        'GiB)' in bf16
    assert 'skipped: out of memory already at 64x64' in bf16
    # dense fp32 at 128: 4x the FLOPs of 64x64 -> 4x its time; its memory
    # grew like N from 32 to 64, so 4x too
    assert 'skipped: would need ~' in fp32
    assert '(extrapolated from 64x64)' in fp32
    ext = [r for r in rows if r['status'] == 'skipped'
           and r['model'] == 'vit' and r['dtype'] == 'fp32'][0]
    assert ext['predicted_s'] == pytest.approx(4 * 0.128)
    assert ext['predicted_mem'] == pytest.approx(4 * 64 * 64 * 1000)
    line = [x for x in fp32.splitlines() if x.startswith('| 64x64 ') and
            'VECA' in x][0]
    cells = [c.strip() for c in line.strip('|').split('|')]
    # speedup 2.00 vs both anchors, FLOP ratio 2.00, share 1.00
    assert cells[6:12] == ['2.00 (2.00-2.00)', '2.00', '1.00'] * 2


def test_cuda_refused_clearly_without_a_gpu(capsys):
    if torch.cuda.is_available():
        pytest.skip('a GPU is present here')
    with pytest.raises(SystemExit) as e:
        bb.parse_args(BASE + ['--device', 'cuda', '--dtype', 'fp16'])
    assert e.value.code == 2
    assert '--device cuda: this torch build sees no CUDA device' in \
        capsys.readouterr().err


def test_budgets_follow_the_models_core_chunk(capsys):
    with pytest.raises(SystemExit):
        bb.parse_args(['--budget', '12'])
    assert 'chunks of 8' in capsys.readouterr().err
    assert bb.parse_args(['--budget', '12', '--core-chunk', '4']).budget == 12
    with pytest.raises(SystemExit):
        gf.main(['--budgets', '12', '--sizes', '32'])
    gf.main(['--budgets', '12', '--core-chunk', '4', '--sizes', '32'])
    assert '| 32x32 | 4 | 12 |' in capsys.readouterr().out


def test_light_head_configs_and_anchor_swap():
    """The SegFormer-head config and its dense / windowed anchors build with
    the same neck and head; the head is a small part of the whole model
    where UPerHead is most of it."""
    from veca_mm.utils.flops import measured_flops
    subject = str(REPO / 'configs/veca/'
                  'segformer_veca-b_8xb2-80k_cityscapes-512x1024.py')
    x = torch.empty(1, 3, 256, 512, device='meta')
    whole = {}
    for anchor in (None, ) + bm.DEFAULT_ANCHORS:
        cfg = bm.load_cfg(subject, backbone_from=anchor and str(REPO /
                                                                 anchor))
        m = bm.build(cfg, meta=True)
        assert type(m.decode_head).__name__ == 'SegformerHead'
        with torch.no_grad():
            out = m(x, mode='tensor')
            whole[anchor] = measured_flops(lambda: m(x, mode='tensor'))
            feats = m.neck(m.backbone(x))
            head = measured_flops(lambda: m.decode_head(feats))
        assert tuple(out.shape) == (1, 19, 64, 128)
        assert head < 0.1 * whole[anchor]
    upernet = bm.build(bm.load_cfg(str(REPO / 'configs/veca/'
                                       'upernet_veca-b_8xb2-80k_cityscapes'
                                       '-512x1024.py')), meta=True)
    with torch.no_grad():
        feats = upernet.neck(upernet.backbone(x))
        assert measured_flops(lambda: upernet.decode_head(feats)) > \
            0.5 * measured_flops(lambda: upernet(x, mode='tensor'))
    # the real (non-meta) windowed anchor runs through the worker
    args = argparse_ns(config=subject, cfg_options=None, threads=1,
                       repeats=1)
    r = bm.run_case(args, dict(backbone_from=str(REPO / bm.DEFAULT_ANCHORS[1]),
                               budget=None, label='w', size=[64, 64],
                               dtype='bf16', round=0))
    assert r['status'] == 'ok' and r['median_s'] > 0


def argparse_ns(**kw):
    import argparse
    return argparse.Namespace(**kw)


# ---------------------------------------------------------------------- #
# bf16 autocast through the linear modules (no weight cache since #28:
# hooks and wrappers on q/k/v, out_proj, fc1, fc2 must act)
def _veca(**kw):
    from veca_mm.models.backbones.veca import VECA
    torch.manual_seed(0)
    m = VECA(arch=TINY_ARCH, core_budgets=8, **kw)
    m.init_weights()
    return m.eval()


def _bf16(model, x, grad=False):
    ctx = torch.enable_grad() if grad else torch.inference_mode()
    with ctx, torch.autocast('cpu', dtype=torch.bfloat16):
        return model(x)[0].float()


def test_bf16_autocast_follows_the_weights():
    torch.manual_seed(1)
    x = torch.randn(2, 3, 48, 64)
    m = _veca()
    attn = m.blocks[0].attn
    with torch.inference_mode():
        fp32 = m(x)[0]
    ref = _bf16(m, x, grad=True)
    out = _bf16(m, x)
    assert torch.equal(out, ref)  # inference and gradient paths agree
    # bf16 vs fp32 on this tiny random model: the stated tolerance
    rel = (out - fp32).norm() / fp32.norm()
    assert rel < 2e-2, rel
    # an in-place weight change (as load_state_dict / an optimizer does)
    with torch.no_grad():
        attn.k_proj.weight.mul_(3)
    changed = _bf16(m, x)
    assert torch.equal(changed, _bf16(m, x, grad=True))
    assert not torch.equal(changed, out)
    # released-style separate q/k/v keys still load, and the forward follows
    other = _veca()
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.01 * torch.randn_like(p))
    state = other.state_dict()
    assert 'blocks.0.attn.q_proj.weight' in state
    assert not any('cache' in k for k in state)
    m.load_state_dict(state)
    assert torch.equal(_bf16(m, x), _bf16(other, x))
    # built under inference_mode, still usable for an input gradient
    # through frozen weights
    m.requires_grad_(False)
    xg = x.clone().requires_grad_(True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        m(xg)[0].float().sum().backward()
    assert xg.grad is not None
