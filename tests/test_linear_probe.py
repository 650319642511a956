"""Frozen-backbone linear probes (the paper's dense protocol), end to end.

A tiny VECA is first fine-tuned (backbone + linear head) on the mini ADE20K;
its backbone is then probed through ``tools/train.py`` with the shipped mini
probe config, and the probe's checkpoints, optimizer, autograd use and
accuracy are checked. Every probe config trains a few iterations on its own
generated mini set, and builds with the real VECA-S/B/L at 512.
"""
import csv
import glob
import json
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from veca_mm.utils.safe_load import load_checkpoint_safely
from veca_mm.utils.mini_data import trivial_miou

from .conftest import REPO, load_tool, mini_ade20k
from .learning import check_learnt, seed_opts

CONFIGS = REPO / 'configs'
MINI = {
    'ade20k': 'mini/linear_veca-t_1xb4-40_mini-ade20k-64x64.py',
    'cityscapes': 'mini/linear_veca-t_1xb4-40_mini-cityscapes-64x64.py',
    'pascal-context-59':
    'mini/linear_veca-t_1xb4-40_mini-pascal-context-59-64x64.py',
    'pascal-context-60':
    'mini/linear_veca-t_1xb4-40_mini-pascal-context-60-64x64.py',
    'voc12aug': 'mini/linear_veca-t_1xb4-40_mini-voc12aug-64x64.py',
    'nyu': 'mini/linear_veca-t_1xb2-40_mini-nyu-64x64.py',
    'kitti': 'mini/linear_veca-t_1xb2-40_mini-kitti-32x96.py',
}
FULL = ['veca_linear_ade20k.py', 'veca_linear_cityscapes.py',
        'veca_linear_pascal-context-59.py', 'veca_linear_pascal-context-60.py',
        'veca_linear_voc12aug.py', 'veca_linear_nyu.py',
        'veca_linear_kitti.py']
LOADERS = ('train', 'val', 'test')
FAST = [f'{k}_dataloader.{o}' for k in LOADERS
        for o in ('num_workers=0', 'persistent_workers=False')]
# The probe must beat the majority-class predictor by this much mIoU. Over
# seeds 0-4 on the native, avx2 and default kernel paths and seed 0 on two
# threads (16 runs, docs/testing.md) it scored 29.5-58.5 against the
# trivial 6.7: the former 20-point margin left 2.8 points of room, 15 leaves
# 7.8.
MARGIN = 15.0


def train(cfg, work_dir, *opts):
    """``tools/train.py CONFIG --work-dir DIR --cfg-options ...``."""
    # mmseg's runtime names its visualizer 'visualizer', and mmengine hands
    # an existing instance of that name (with its old log dir) to a new
    # runner in the same process: name it after the work dir
    load_tool('tools/train.py').main(
        [str(CONFIGS / cfg), '--work-dir', str(work_dir), '--cfg-options'] +
        FAST + [f'visualizer.name=vis_{work_dir}'] + list(opts) + seed_opts())
    logs = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', '*.json')))
    assert logs, f'no json log under {work_dir}'
    rows = [json.loads(line) for line in open(logs[-1])]
    return [r for r in rows if 'loss' in r], [r for r in rows
                                              if 'loss' not in r]


def roots(root):
    return [f'{k}_dataloader.dataset.data_root={root}' for k in LOADERS]


def iters(n, ckpt_every=None):
    warm = max(1, min(5, n // 4))
    return [f'train_cfg.max_iters={n}', f'train_cfg.val_interval={n}',
            f'default_hooks.checkpoint.interval={ckpt_every or n}',
            'default_hooks.checkpoint.max_keep_ckpts=3',
            'default_hooks.logger.interval=1',
            f'param_scheduler.0.end={warm}',
            f'param_scheduler.1.begin={warm}', f'param_scheduler.1.end={n}']


@pytest.fixture(scope='module')
def mini_ade(tmp_path_factory):
    return mini_ade20k(tmp_path_factory, num_train=16, num_val=4, size=64)


@pytest.fixture(scope='module')
def trained_backbone(tmp_path_factory, mini_ade):
    """A tiny VECA fine-tuned end to end (frozen=False, same model)."""
    work = tmp_path_factory.mktemp('finetune')
    losses, _ = train(MINI['ade20k'], work, *roots(mini_ade), *iters(80),
                      'model.backbone.frozen=False')
    assert losses[-1]['loss'] < losses[0]['loss']
    return work / 'iter_80.pth'


@pytest.fixture(scope='module')
def probe_run(tmp_path_factory, mini_ade, trained_backbone):
    """The probe of that backbone, 40 iterations, checkpoints at 20/40."""
    work = tmp_path_factory.mktemp('probe')
    losses, vals = train(
        MINI['ade20k'], work, *roots(mini_ade), *iters(40, 20),
        'model.backbone.init_cfg._delete_=True',  # the mini config's None
        'model.backbone.init_cfg.type=Pretrained',
        f'model.backbone.init_cfg.checkpoint={trained_backbone}')
    return work, losses, vals


def _state(path):
    return load_checkpoint_safely(str(path), map_location='cpu')


def test_frozen_switch_is_eval_no_grad_and_fully_frozen():
    from veca_mm.models.backbones.veca import VECA
    arch = dict(embed_dims=32, num_layers=4, num_heads=2, mlp_ratio=2.0,
                num_cores=16, distill_dims=48)
    torch.manual_seed(0)
    kw = dict(arch=arch, patch_size=8, out_indices=-1, output_cls_token=True,
              distill_proj=True)
    veca = VECA(frozen=True, **kw)
    assert hasattr(veca, 'output_proj')
    assert not any(p.requires_grad for p in veca.parameters())
    veca.train()  # what the runner does every iteration
    assert not any(m.training for m in veca.modules())
    seen = []
    veca.blocks[0].register_forward_hook(
        lambda *_: seen.append(torch.is_grad_enabled()))
    x = torch.randn(2, 3, 40, 56, requires_grad=True)
    (fmap, cls), = veca(x)
    assert seen == [False] and fmap.grad_fn is None and cls.grad_fn is None
    assert fmap.shape == (2, 48, 5, 7) and cls.shape == (2, 48)
    # eval mode: no coordinate augmentation, so two "training" calls agree,
    # and the output is the unfrozen model's eval output
    (again, _), = veca(x)
    assert torch.equal(fmap, again)
    plain = VECA(**kw)
    plain.load_state_dict(veca.state_dict())
    plain.eval()
    with torch.no_grad():
        (ref, _), = plain(x)
    assert torch.equal(fmap, ref)
    for bad in (dict(train_core_budgets=dict(budgets=(8, 16))),
                dict(drop_path_rate=0.1), dict(frozen_stages=2)):
        with pytest.raises(ValueError, match='frozen=True'):
            VECA(frozen=True, **kw, **bad)


def test_optimizer_holds_only_head_and_backbone_runs_without_autograd(
        tmp_path, mini_ade):
    init_default_scope('mmseg')
    from mmengine.optim import DefaultOptimWrapperConstructor
    from mmengine.runner import Runner
    cfg = Config.fromfile(CONFIGS / MINI['ade20k'])
    cfg.merge_from_dict(dict(
        work_dir=str(tmp_path),
        model=dict(backbone=dict(arch=dict(distill_dims=48)),
                   decode_head=dict(in_channels=48))))
    for k in LOADERS:
        cfg[f'{k}_dataloader'].update(num_workers=0,
                                      persistent_workers=False)
        cfg[f'{k}_dataloader'].dataset.data_root = mini_ade
    runner = Runner.from_cfg(cfg)
    model = runner.model
    optim = runner.build_optim_wrapper(cfg.optim_wrapper)
    in_optim = {id(p) for g in optim.optimizer.param_groups
                for p in g['params']}
    head = {id(p) for p in model.decode_head.parameters()}
    assert in_optim == head
    assert 'output_proj.weight' in dict(model.backbone.named_parameters())
    # mmengine 0.10.7's default constructor without a paramwise_cfg hands
    # every parameter, frozen ones included, to the optimizer (why the
    # probe configs name ours); with one it skips them, as ours does
    for paramwise, keeps_frozen in ((None, True), (dict(bias_lr_mult=1.),
                                                   False)):
        default = DefaultOptimWrapperConstructor(
            dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3)),
            paramwise)(model)
        ids = {id(p) for g in default.optimizer.param_groups
               for p in g['params']}
        assert (ids > head) if keeps_frozen else (ids == head)

    seen = []
    model.backbone.blocks[-1].register_forward_hook(
        lambda *_: seen.append(torch.is_grad_enabled()))
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    model.train()
    assert not model.backbone.training and model.decode_head.training
    batch = next(iter(runner.build_dataloader(cfg.train_dataloader)))
    log = model.train_step(batch, optim)
    assert seen == [False] and math.isfinite(float(log['loss']))
    assert all(p.grad is None for p in model.backbone.parameters())
    after = model.backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.learns
def test_probe_through_tools_train_freezes_backbone_and_learns(
        probe_run, trained_backbone, mini_ade):
    work, losses, vals = probe_run
    c_mid, c_end = _state(work / 'iter_20.pth'), _state(work / 'iter_40.pth')
    src = _state(trained_backbone)['state_dict']
    s_mid, s_end = c_mid['state_dict'], c_end['state_dict']
    backbone = [k for k in s_end if k.startswith('backbone.')]
    head = [k for k in s_end if k.startswith('decode_head.')
            and s_end[k].is_floating_point()]
    assert len(backbone) > 40 and head
    for k in backbone:  # bit-identical, and the loaded trained weights
        assert torch.equal(s_mid[k], s_end[k]), k
        assert torch.equal(s_end[k], src[k]), k
    assert all(not torch.equal(s_mid[k], s_end[k]) for k in head)
    # the saved optimizer state covers exactly the head's parameters
    groups = c_end['optimizer']['param_groups']
    n_head = sum(1 for _ in (k for k in head if 'running' not in k))
    assert sum(len(g['params']) for g in groups) == n_head
    assert len(c_end['optimizer']['state']) == n_head
    # and it learnt: beats the majority-class predictor by MARGIN
    trivial = trivial_miou(mini_ade)
    miou = [r['mIoU'] for r in vals if 'mIoU' in r][-1]
    print(f'probe mIoU {miou:.2f}, trivial {trivial:.2f}')
    check_learnt('linear_probe[ade20k]',
                 [('mIoU@val', miou, trivial, trivial + MARGIN, True)])


# ade20k trains above (and asserts learning)
@pytest.mark.parametrize('task', [t for t in MINI if t != 'ade20k'])
def test_every_probe_config_trains_on_its_mini_set(tmp_path, task):
    conv = REPO / 'tools/dataset_converters'
    if task == 'cityscapes':
        root = load_tool(conv / 'make_mini_cityscapes.py'
                         ).make_mini_cityscapes(str(tmp_path), num_train=2,
                                                num_val=1, height=64,
                                                width=128)
    elif task.startswith('pascal-context'):
        root = load_tool(conv / 'make_mini_pascal_context.py'
                         ).make_mini_pascal_context(str(tmp_path), 3, 1, 64)
    elif task == 'voc12aug':
        root = load_tool(conv / 'make_mini_voc.py').make_mini_voc(
            str(tmp_path), 2, 2, 1, 64)
    elif task == 'nyu':
        root = load_tool(conv / 'make_mini_nyu.py').make_mini_nyu(
            str(tmp_path), num_train=2, num_test=1)
    else:
        root = load_tool(conv / 'make_mini_kitti.py').make_mini_kitti(
            str(tmp_path), num_train=2, num_test=1)
    opts = roots(root) + iters(2) + ['train_dataloader.batch_size=2']
    if task == 'voc12aug':  # a ConcatDataset of VOC train + SBD aug
        opts = [o for o in opts
                if not o.startswith('train_dataloader.dataset.')] + [
            f'train_dataloader.dataset.datasets.{i}.data_root={root}'
            for i in (0, 1)]
    losses, vals = train(MINI[task], tmp_path / 'work', *opts)
    assert [r['iter'] for r in losses] == [1, 2]
    assert all(math.isfinite(r['loss']) for r in losses)
    metric = 'rmse' if task in ('nyu', 'kitti') else 'mIoU'
    assert any(metric in r and math.isfinite(r[metric]) for r in vals)
    # only the head was optimised
    ckpt = _state(tmp_path / 'work' / 'iter_2.pth')
    n = sum(len(g['params']) for g in ckpt['optimizer']['param_groups'])
    heads = {k for k in ckpt['state_dict'] if k.startswith('decode_head.')
             and ckpt['state_dict'][k].is_floating_point()
             and 'running' not in k}
    assert n == len(heads)


def test_mini_voc_and_context_layouts_read_by_mmseg(tmp_path):
    from PIL import Image
    init_default_scope('mmseg')
    from mmseg.datasets import (PascalContextDataset, PascalContextDataset59,
                                PascalVOCDataset)
    conv = REPO / 'tools/dataset_converters'
    voc_mod = load_tool(conv / 'make_mini_voc.py')
    voc = voc_mod.make_mini_voc(str(tmp_path / 'v'), 2, 3, 1, 48,
                                verbose=False)
    ctx_mod = load_tool(conv / 'make_mini_pascal_context.py')
    ctx = ctx_mod.make_mini_pascal_context(str(tmp_path / 'c'), 2, 1, 48,
                                           verbose=False)
    lbl = Image.open(glob.glob(f'{voc}/SegmentationClass/*.png')[0])
    assert lbl.mode == 'P'
    values = set(torch.as_tensor(list(lbl.getdata())).unique().tolist())
    assert values <= {0, 255, *voc_mod.CLASSES} and 255 in values
    names = PascalVOCDataset.METAINFO['classes']
    assert all(names[i] == n for i, (n, *_) in voc_mod.CLASSES.items())
    sets = 'ImageSets/Segmentation'
    aug = PascalVOCDataset(
        data_root=voc, ann_file=f'{sets}/aug.txt',
        data_prefix=dict(img_path='JPEGImages',
                         seg_map_path='SegmentationClassAug'))
    val = PascalVOCDataset(
        data_root=voc, ann_file=f'{sets}/val.txt',
        data_prefix=dict(img_path='JPEGImages',
                         seg_map_path='SegmentationClass'))
    assert len(aug) == 5 and len(val) == 1
    names60 = PascalContextDataset.METAINFO['classes']
    assert all(names60[i] == n for i, (n, *_) in ctx_mod.CLASSES.items())
    for cls in (PascalContextDataset, PascalContextDataset59):
        ds = cls(data_root=ctx,
                 ann_file='ImageSets/SegmentationContext/train.txt',
                 data_prefix=dict(img_path='JPEGImages',
                                  seg_map_path='SegmentationClassContext'))
        assert len(ds) == 2 and osp.isfile(ds[0]['seg_map_path'])
    from veca_mm.datasets import DatasetPathError, check_dataset_paths
    cfg = Config.fromfile(CONFIGS / MINI['pascal-context-59'])
    with pytest.raises(DatasetPathError, match='make_mini_pascal_context'):
        check_dataset_paths(cfg)


@pytest.mark.parametrize('name', FULL)
def test_probe_configs_build_for_s_b_l_and_forward_at_512(name):
    """Real widths, weightless (meta device): builds, one forward at 512."""
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    cfg = Config.fromfile(CONFIGS / name)
    assert cfg.model.backbone.frozen and cfg.model.backbone.distill_proj
    assert cfg.optim_wrapper.constructor == \
        'VECALayerDecayOptimizerConstructor'
    depth = 'nyu' in name or 'kitti' in name
    for arch in ('small', 'base', 'large'):
        mcfg = cfg.model.copy()
        mcfg.backbone.arch = arch
        mcfg.backbone.init_cfg = None
        mcfg.decode_head.norm_cfg = dict(type='BN', requires_grad=True)
        with torch.device('meta'):
            model = MODELS.build(mcfg)
            x = torch.empty(1, 3, 512, 512)
            out = model.decode_head(model.backbone(x))
        (fmap, cls), = model.backbone(x)
        assert fmap.shape == (1, 768, 32, 32) and cls.shape == (1, 768)
        if depth:
            assert out.shape == (1, 1, 128, 128)
        else:
            assert out.shape == (1, model.decode_head.num_classes, 32, 32)
        assert not any(p.requires_grad for p in model.backbone.parameters())


def test_budget_sweep_curve_for_a_probe_checkpoint(probe_run, mini_ade,
                                                  tmp_path):
    work, _, _ = probe_run
    sweep = load_tool('tools/analysis_tools/budget_sweep.py')
    opts = []
    for k in LOADERS:
        opts += [f'{k}_dataloader.dataset.data_root={mini_ade}',
                 f'{k}_dataloader.num_workers=0',
                 f'{k}_dataloader.persistent_workers=False']
    out = tmp_path / 'ade'
    rows = sweep.main([str(CONFIGS / MINI['ade20k']),
                       str(work / 'iter_40.pth'), '--work-dir', str(out),
                       '--repeats', '1', '--cfg-options'] + opts)
    assert [r['budgets'] for r in rows] == [[8], [16]]
    assert all(0 < r['mIoU'] <= 100 for r in rows)
    assert (out / 'budget_sweep.png').stat().st_size > 1000
    with open(out / 'budget_sweep.csv') as f:
        assert [r['budgets'] for r in csv.DictReader(f)] == ['8', '16']
    # Fig. 5(a): several runs on one plot; an error metric is inverted
    depth = tmp_path / 'depth.json'
    depth.write_text(json.dumps(dict(metric='rmse', rows=[
        dict(budgets=[16], rmse=0.5), dict(budgets=[8], rmse=0.625)])))
    table = sweep.main(['--runs', str(out / 'budget_sweep.json'), str(depth),
                        '--labels', 'ADE', 'NYU', '--work-dir',
                        str(tmp_path / 'fig')])
    nyu = [r for r in table if r['run'] == 'NYU']
    assert [(r['budget'], r['retention_pct']) for r in nyu] == [(8, 80.0),
                                                                (16, 100.0)]
    ade = [r for r in table if r['run'] == 'ADE']
    assert ade[-1]['retention_pct'] == 100.0
    assert math.isclose(ade[0]['retention_pct'],
                        100 * rows[0]['mIoU'] / rows[1]['mIoU'])
    assert (tmp_path / 'fig' / 'budget_sweep_runs.png').stat().st_size > 1000
    with open(tmp_path / 'fig' / 'budget_sweep_runs.csv') as f:
        assert len(list(csv.DictReader(f))) == 4
    with pytest.raises(SystemExit):
        sweep.main(['--labels', 'x'])
