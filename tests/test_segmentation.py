"""Semantic segmentation end to end through the real tools and mm pieces."""
import glob
import json
import math
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from .conftest import REPO, load_tool
from .learning import check_learnt, seed_opts
from .tool_runs import run_tool

MINI_ADE = REPO / 'configs/mini/upernet_veca-t_1xb4-600_mini-ade20k-96x96.py'
MINI_CS = REPO / 'configs/mini/upernet_veca-t_1xb2-200_mini-cityscapes-128x256.py'
# mIoU points above the trivial predictor. Over seeds 0-4 on the native,
# avx2 and default kernel paths and seed 0 on two threads (16 runs,
# docs/testing.md): ADE20K 19.7-44.2 against the trivial 5.6, Cityscapes
# 24.5-34.0 against 2.4 (at the end of training and at C=8)
MIOU_MARGIN = 5
FAST = ['train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False']


@pytest.fixture(scope='module')
def mini_ade(tmp_path_factory):
    out = tmp_path_factory.mktemp('ade')
    load_tool('tools/dataset_converters/make_mini_ade20k.py').make_mini_ade20k(
        str(out), num_train=8, num_val=3, size=96)
    return out / 'ADEChallengeData2016'


@pytest.fixture(scope='module')
def mini_cityscapes(tmp_path_factory):
    out = tmp_path_factory.mktemp('cs')
    load_tool('tools/dataset_converters/make_mini_cityscapes.py'
              ).make_mini_cityscapes(str(out), num_train=4, num_val=2,
                                     height=64, width=128)
    return out / 'cityscapes'


def trivial_miou(cfg_path, root):
    """mIoU of the trivial predictor: the most frequent training class
    everywhere, scored by mmseg's own IoUMetric on the validation set."""
    import numpy as np
    from mmseg.evaluation import IoUMetric
    from mmseg.registry import DATASETS
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(cfg_path)
    init_default_scope('mmseg')

    def dataset(split):
        ds = cfg[f'{split}_dataloader'].dataset.copy()
        ds.data_root = str(root)
        ds.pipeline = [t for t in ds.pipeline if t.type == 'LoadAnnotations']
        return DATASETS.build(ds)

    train, val = dataset('train'), dataset('val')
    counts = np.zeros(256, np.int64)
    for i in range(len(train)):
        counts += np.bincount(train[i]['gt_seg_map'].ravel(), minlength=256)
    counts[255] = 0
    metric = IoUMetric(iou_metrics=['mIoU'])
    metric.dataset_meta = val.metainfo
    for i in range(len(val)):
        gt = torch.from_numpy(val[i]['gt_seg_map'].astype(np.int64))[None]
        metric.process({}, [dict(
            pred_sem_seg=dict(data=torch.full_like(gt, int(counts.argmax()))),
            gt_sem_seg=dict(data=gt))])
    return metric.compute_metrics(metric.results)['mIoU']


def data_opts(root):
    return [f'{k}_dataloader.dataset.data_root={root}'
            for k in ('train', 'val', 'test')]


def train_losses(work_dir):
    logs = glob.glob(osp.join(work_dir, '*', 'vis_data', '*.json'))
    assert logs, f'no json log under {work_dir}'
    rows = [json.loads(line) for line in open(sorted(logs)[-1])]
    return [r for r in rows if 'loss' in r], [r for r in rows if 'mIoU' in r]


def parse_metrics(text):
    found = dict(re.findall(r'(aAcc|mIoU|mAcc): ([0-9.]+)', text))
    return {k: float(v) for k, v in found.items()}


@pytest.mark.learns
@pytest.mark.parametrize('name', ['ade20k', 'cityscapes'])
def test_train_resume_test_through_tools(tmp_path, name, request):
    root = request.getfixturevalue(
        'mini_ade' if name == 'ade20k' else 'mini_cityscapes')
    cfg = MINI_ADE if name == 'ade20k' else MINI_CS
    work = tmp_path / 'work'
    # 16 iterations: a short warm-up, then a linear decay to 0 (a shortened
    # copy of the config's own schedule); enough to learn the mini set.
    iters = ['train_cfg.max_iters=16', 'train_cfg.val_interval=16',
             'default_hooks.checkpoint.interval=8',
             'default_hooks.checkpoint.max_keep_ckpts=3',
             'default_hooks.logger.interval=1', 'train_dataloader.batch_size=2',
             'param_scheduler.0.end=3', 'param_scheduler.1.begin=3',
             'param_scheduler.1.end=16']
    run_tool(['tools/train.py', cfg, '--work-dir', work, '--cfg-options'] +
             data_opts(root) + FAST + iters + seed_opts())
    losses, vals = train_losses(work)
    assert [r['iter'] for r in losses] == list(range(1, 17))
    assert all(math.isfinite(r['loss']) for r in losses)
    # Learning: the trained model beats the trivial predictor (the most
    # frequent training class everywhere) by MIOU_MARGIN points (the spread
    # over seeds and CPU kernel paths: docs/testing.md).
    trivial = trivial_miou(cfg, root)
    assert vals
    val_miou = vals[-1]['mIoU']
    assert osp.isfile(work / 'iter_16.pth')
    # resume from iter 16 and go on to 18: the checkpoint reloads
    # (weights_only)
    out = run_tool(['tools/train.py', cfg, '--work-dir', work, '--resume',
                    '--cfg-options'] + data_opts(root) + FAST + iters[1:] +
                   ['train_cfg.max_iters=18'] + seed_opts())
    assert 'resumed' in out.lower() or 'Load checkpoint' in out
    assert osp.isfile(work / 'iter_18.pth')
    # evaluate the saved checkpoint at a smaller budget through tools/test.py:
    # the nested-trained model still beats the trivial predictor at C=8
    out = run_tool(['tools/test.py', cfg, work / 'iter_18.pth', '--work-dir',
                    tmp_path / 'test', '--core-budgets', '8',
                    '--cfg-options'] + data_opts(root) + FAST)
    metrics = parse_metrics(out)
    assert set(metrics) == {'aAcc', 'mIoU', 'mAcc'}
    check_learnt(f'segmentation[{name}]', [
        ('mIoU@val', val_miou, trivial, trivial + MIOU_MARGIN, True),
        ('mIoU@C8', metrics['mIoU'], trivial, trivial + MIOU_MARGIN, True)])


@pytest.mark.parametrize('cfg_name, size', [
    ('veca_upernet_ade20k.py', (512, 512)),
    ('veca_upernet_cityscapes.py', (1024, 2048)),
])
def test_headline_configs_run_real_veca_b(cfg_name, size):
    """The full VECA-B UPerNet builds and runs at its crop / test size."""
    from mmseg.registry import MODELS
    from mmengine.registry import init_default_scope

    cfg = Config.fromfile(REPO / 'configs' / cfg_name)
    assert cfg.model.backbone.arch == 'base'
    assert cfg.model.test_cfg.mode == 'whole'
    cfg.model.backbone.init_cfg = None
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model).eval()
    assert sum(p.numel() for p in model.backbone.parameters()) > 80e6
    x = torch.randn(1, 3, *size)
    with torch.inference_mode():
        logits = model(x, mode='tensor')
    assert logits.shape == (1, cfg.model.decode_head.num_classes,
                            size[0] // 4, size[1] // 4)
    assert torch.isfinite(logits).all()


def test_missing_pretrained_stops_before_first_iteration(tmp_path, mini_ade):
    out = subprocess.run(
        [sys.executable, 'tools/train.py', REPO / 'configs/veca_upernet_ade20k.py',
         '--work-dir', tmp_path, '--cfg-options'] + data_opts(mini_ade) +
        FAST + [f'model.backbone.init_cfg.checkpoint={tmp_path}/nope.pth'],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert 'veca2mm.py' in out.stderr and 'init_cfg=None' in out.stderr
    assert 'Iter(train)' not in out.stdout + out.stderr


STOCK = [
    # (stock mmseg config, decode head in_channels)
    ('mmseg::segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py',
     dict(in_channels=[32, 32, 32, 32])),
    ('mmseg::pspnet/pspnet_r50-d8_4xb4-80k_ade20k-512x512.py',
     dict(in_channels=32, in_index=3)),
]


@pytest.mark.parametrize('stock, head', STOCK)
def test_compose_into_stock_mmseg_configs(tmp_path, mini_ade, stock, head):
    """The README's few lines drop VECA into configs people already have."""
    from mmengine.runner import Runner

    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text(f"""
_base_ = '{stock}'
custom_imports = dict(imports=['veca_mm'], allow_failed_imports=False)
model = dict(
    pretrained=None,
    backbone=dict(_delete_=True, type='VECA',
                  arch=dict(embed_dims=48, num_layers=4, num_heads=2,
                            mlp_ratio=2.0, num_cores=16),
                  out_indices=(0, 1, 2, 3), init_cfg=None),
    neck=dict(type='SimplePyramidNeck', in_channels=48, out_channels=32),
    decode_head=dict(**{head!r}, channels=32, norm_cfg=dict(type='BN')),
)
""")
    cfg = Config.fromfile(cfg_file)
    if cfg.model.get('auxiliary_head'):
        cfg.model.auxiliary_head.update(in_channels=32, in_index=2,
                                        channels=16,
                                        norm_cfg=dict(type='BN'))
    cfg.work_dir = str(tmp_path / 'work')
    for key in ('train', 'val', 'test'):
        cfg[f'{key}_dataloader'].dataset.data_root = str(mini_ade)
        cfg[f'{key}_dataloader'].num_workers = 0
        cfg[f'{key}_dataloader'].persistent_workers = False
    crop = (64, 64)
    cfg.model.data_preprocessor.size = crop
    pipeline = cfg.train_dataloader.dataset.pipeline
    for t in pipeline:
        if t['type'] == 'RandomResize':
            t['scale'] = (256, 64)
        if t['type'] == 'RandomCrop':
            t['crop_size'] = crop
    cfg.train_dataloader.batch_size = 2
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=1,
                         val_interval=100)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    assert type(runner.model.backbone).__name__ == 'VECA'
    before = {n: p.detach().clone()
              for n, p in runner.model.backbone.named_parameters()}
    runner.train()
    changed = [n for n, p in runner.model.backbone.named_parameters()
               if not torch.equal(p, before[n])]
    assert any(n.startswith('blocks.0.attn') for n in changed)
