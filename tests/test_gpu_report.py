"""tools/analysis_tools/gpu_report.py on CPU (--smoke): every section's code
path at tiny sizes, so that the GPU run cannot fail on a typo, plus the
checks it makes (math kernel, fp16 against bf16) and the launcher path."""
import json
import os

import pytest
import torch

from .conftest import free_port, load_tool

# process groups: `make test` runs this file after the parallel pass, alone
pytestmark = pytest.mark.serial

gr = load_tool('tools/analysis_tools/gpu_report.py')
SEG = ['configs/veca_upernet_ade20k.py', 'configs/veca_upernet_cityscapes.py']


@pytest.fixture(scope='module')
def smoke(tmp_path_factory):
    """One smoke run of every section (the segmentation configs train
    under bf16 and fp16; Mask R-CNN has its own test below)."""
    out = tmp_path_factory.mktemp('gpu_report') / 'report.md'
    rc = gr.main(['--device', 'cpu', '--smoke', '--out', str(out),
                  '--peak-tflops', '0.001', '--sizes', '32',
                  '--veca-sizes', '64', '--configs'] + SEG)
    return rc, out.read_text(), json.loads(
        out.with_suffix('.json').read_text())


def test_smoke_report_has_every_section(smoke):
    rc, text, res = smoke
    assert rc == 0 and res['failures'] == []
    for title in ('# VECA on ', '## Backbone inference', '## SDPA kernel',
                  '## Training step', '## torch.compile'):
        assert title in text
    assert 'torch 2.' in text and 'mmcv 2.1.0' in text
    assert 'Smoke run' in text


def test_backbone_rows_compare_against_the_dense_vit(smoke):
    rows = smoke[2]['backbone']
    assert [(r['model'], r['size'], r['budget']) for r in rows] == [
        ('vit', 32, None), ('vitdet', 32, None), ('veca', 32, 8),
        ('veca', 32, 16), ('veca', 64, 8), ('veca', 64, 16)]
    dense = rows[0]
    for r in rows:
        assert r['status'] == 'ok' and r['img_s'] > 0 and r['flops'] > 0
        if r['size'] == 32:
            assert r['flop_ratio'] == pytest.approx(dense['flops'] /
                                                    r['flops'])
        # speedups only where the dense ViT ran; MFU for VECA only
        assert ('speedup' in r) == (r['size'] == 32)
        assert ('mfu' in r) == (r['model'] == 'veca')
    veca = rows[2]
    assert veca['mfu'] == pytest.approx(veca['flops'] * veca['img_s'] /
                                        1e9)
    # C=16 attends more than C=8: more FLOPs, a smaller ratio
    assert rows[3]['flops'] > rows[2]['flops']


def test_sdpa_rows_name_both_veca_calls(smoke):
    rows = [r for r in smoke[2]['sdpa'] if r['model'] == 'veca']
    assert len(rows) == 4
    for r in rows:  # 12 layers, one call of each kind per layer, CPU
        assert r['cores->all'] == {'cpu': 12}
        assert r['patches->cores'] == {'cpu': 12}
        assert 'failure' not in r


def test_math_kernel_at_the_failure_size_fails(smoke):
    """Forced onto the math kernel, VECA's calls are named math, and at or
    above --math-fail-size that is a failure naming both calls."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    args = gr.parse_args(['--device', 'cpu', '--smoke',
                          '--math-fail-size', '32'])
    m, fn = gr.build_backbone('veca', args, 32)
    m.eval().set_core_budgets(8)
    with sdpa_kernel(SDPBackend.MATH):
        calls = gr._kernels(torch.device('cpu'), 32, fn)
    assert {c['kernel'] for c in calls} == {'math'}
    row = gr.veca_kernel_row(calls, 32, 8, args)
    assert row['cores->all'] == {'math': 12}
    assert 'cores->all and patches->cores call(s) ran the math kernel' in \
        row['failure']
    args.math_fail_size = 64
    assert 'failure' not in gr.veca_kernel_row(calls, 32, 8, args)


def test_training_rows_bf16_fp16_and_their_comparison(smoke):
    rows = smoke[2]['train']
    assert [(r['config'], r['backbone']) for r in rows] == [
        (c, b) for c in SEG for b in ('veca', 'vit')]
    for r in rows:
        assert r['batch'] == 2 and not r['distributed']
        for run in r['runs'].values():
            assert run['status'] == 'ok' and len(run['losses']) == 2
            assert run['s_iter'] > 0
        check = r['fp16_check']
        assert check['finite'] and check['ok']
        b, f = r['runs']['bf16']['losses'], r['runs']['fp16']['losses']
        assert check['rel_diff'] == pytest.approx(
            abs(sum(f) - sum(b)) / abs(sum(b)))
    assert [r['crop'] for r in rows[::2]] == [[32, 32], [32, 64]]


def test_fp16_far_from_bf16_or_not_finite_fails():
    args = gr.parse_args(['--device', 'cpu', '--smoke'])
    bf = dict(losses=[2.0, 1.0])
    assert gr.compare_fp16(dict(losses=[2.0, 1.05]), bf, args)['ok']
    far = gr.compare_fp16(dict(losses=[2.0, 2.0]), bf, args)
    assert not far['ok'] and far['rel_diff'] == pytest.approx(1 / 3)
    nan = gr.compare_fp16(dict(losses=[2.0, float('nan')]), bf, args)
    assert not nan['ok'] and not nan['finite']


def test_compile_row(smoke):
    c = smoke[2]['compile']
    assert c['backend'] == 'eager' and c['size'] == 64
    assert c['eager']['img_s'] > 0 and c['compiled']['img_s'] > 0
    assert c['speedup'] == pytest.approx(
        c['compiled']['img_s'] / c['eager']['img_s'])


def test_mask_rcnn_trains_and_low_precision_is_a_row_not_a_crash(tmp_path):
    """Mask R-CNN (synthetic boxes and masks) through the same step in fp32;
    under bf16 on CPU mmcv's float-only CPU nms refuses the RPN's bf16
    boxes: a failed row naming it, and the tool exits 1."""
    out = tmp_path / 'r.md'
    rc = gr.main(['--device', 'cpu', '--smoke', '--out', str(out),
                  '--sections', 'train', '--configs',
                  'configs/veca_mask-rcnn_coco.py', '--train-dtypes', 'fp32',
                  'bf16', '--train-iters', '1'])
    res = json.loads(out.with_suffix('.json').read_text())
    assert rc == 1
    for row in res['train']:
        assert row['crop'] == [64, 64]
        fp32 = row['runs']['fp32']
        assert fp32['status'] == 'ok' and fp32['losses'][0] > 0
        assert 'expected scalar type Float' in row['runs']['bf16']['status']
        assert 'fp16_check' not in row
    assert len(res['failures']) == 2
    assert 'RuntimeError' in out.read_text()


def test_launcher_pytorch_trains_under_ddp(tmp_path, monkeypatch):
    """--launcher pytorch as torchrun would start one rank: the process
    group and SyncBN -> BN as tools/train.py (gloo on CPU), the model in
    mmengine's DDP wrapper."""
    import torch.distributed as dist
    for k, v in dict(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1',
                     MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port())).items():
        monkeypatch.setenv(k, v)
    out = tmp_path / 'r.md'
    try:
        rc = gr.main(['--device', 'cpu', '--smoke', '--out', str(out),
                      '--launcher', 'pytorch', '--sections', 'train',
                      '--configs', SEG[0], '--train-dtypes', 'bf16',
                      '--train-iters', '1'])
        assert dist.is_initialized() and dist.get_backend() == 'gloo'
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    res = json.loads(out.with_suffix('.json').read_text())
    assert rc == 0 and all(r['distributed'] for r in res['train'])
    with pytest.raises(SystemExit):
        gr.parse_args(['--launcher', 'pytorch'])  # train section only


def test_peak_tflops_by_device_name():
    assert gr.peak_tflops('NVIDIA H100 80GB HBM3') == (989., 'H100 SXM')
    assert gr.peak_tflops('NVIDIA H100 PCIe') == (756., 'H100 PCIe')
    assert gr.peak_tflops('NVIDIA H200') == (989., 'H200')
    assert gr.peak_tflops('NVIDIA A100-SXM4-80GB')[0] == 312.
    assert gr.peak_tflops('NVIDIA L40S')[0] == 362.
    assert gr.peak_tflops('NVIDIA GeForce RTX 4090')[0] == 165.
    assert gr.peak_tflops('NVIDIA H100 NVL') == (None, None)
    assert gr.peak_tflops('anything', 100) == (100., '--peak-tflops')


@pytest.mark.skipif(torch.cuda.is_available(), reason='needs no GPU')
def test_cuda_without_a_gpu_says_what_to_run():
    with pytest.raises(SystemExit, match='--device cpu --smoke'):
        gr.main(['--out', os.devnull])


def test_syncbn_config_in_one_process_is_plain_bn():
    """docs/gpu.md: a SyncBN config on one GPU without a launcher. The
    runner (and the report) turn SyncBN into BN; torch's SyncBatchNorm
    without a process group is BN too; the "Default process group has not
    been initialized" error is mmcv's MMSyncBN's, which no config uses."""
    from mmcv.ops import SyncBatchNorm as MMSyncBN
    args = gr.parse_args(['--device', 'cpu', '--smoke'])
    cfg, _, _ = gr.train_cfg(SEG[0], 'veca', args)
    assert cfg.model.decode_head.norm_cfg.type == 'SyncBN'
    model, _ = gr.build_train_model(cfg, torch.device('cpu'), False)
    kinds = {type(m).__name__ for m in model.modules()}
    assert 'SyncBatchNorm' not in kinds and '_BatchNormXd' in kinds
    x = torch.randn(4, 8, 3, 3)
    assert torch.allclose(torch.nn.SyncBatchNorm(8).train()(x),
                          torch.nn.BatchNorm2d(8).train()(x))
    with pytest.raises(ValueError, match='Default process group has not '
                       'been initialized'):
        MMSyncBN(8)
