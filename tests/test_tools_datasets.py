"""The mini dataset generators and the command-line tools' config handling.

The generators must write the real ADE20K / Cityscapes layouts that mmseg's
own dataset classes read, deterministically, with a learnable signal. The
tools' option handling is checked on the resulting configs; one end-to-end
run trains, resumes and tests a tiny plain mmseg model through
``tools/train.py`` / ``tools/test.py`` (no VECA backbone involved).
"""
import filecmp
import glob
import os.path as osp
from pathlib import Path

import numpy as np
import pytest

from veca_mm.utils.mini_data import trivial_miou

from .conftest import REPO, load_tool, tool_fixture

# The repo's small configs (the demo's and the tests'), checked as they are.
REPO_MINI_CONFIGS = sorted((REPO / 'configs' / 'mini').glob('*mini*.py'))


ade_gen = tool_fixture('tools/dataset_converters/make_mini_ade20k.py')
city_gen = tool_fixture('tools/dataset_converters/make_mini_cityscapes.py')
train_tool = tool_fixture('tools/train.py')
test_tool = tool_fixture('tools/test.py')


@pytest.fixture(scope='module')
def ade_root(ade_gen, tmp_path_factory):
    out = tmp_path_factory.mktemp('mini_ade')
    return ade_gen.make_mini_ade20k(
        str(out), num_train=8, num_val=4, size=64, seed=0, verbose=False)


@pytest.fixture(scope='module')
def city_root(city_gen, tmp_path_factory):
    out = tmp_path_factory.mktemp('mini_city')
    return city_gen.make_mini_cityscapes(
        str(out), num_train=4, num_val=2, height=64, width=128, seed=0,
        verbose=False)


def _files(root):
    return sorted(
        osp.relpath(p, root)
        for p in glob.glob(osp.join(root, '**', '*'), recursive=True)
        if osp.isfile(p))


def _build_dataset(dataset_type, data_root, img_dir, ann_dir,
                   reduce_zero_label):
    from mmengine.registry import DefaultScope
    from mmseg.registry import DATASETS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    load_ann = dict(type='LoadAnnotations')
    if reduce_zero_label:
        load_ann['reduce_zero_label'] = True
    with DefaultScope.overwrite_default_scope('mmseg'):
        return DATASETS.build(dict(
            type=dataset_type,
            data_root=data_root,
            data_prefix=dict(img_path=img_dir, seg_map_path=ann_dir),
            pipeline=[
                dict(type='LoadImageFromFile'), load_ann,
                dict(type='PackSegInputs')
            ]))


# --------------------------------------------------------------- generators
def test_ade_layout(ade_root):
    files = _files(ade_root)
    expected = (
        [f'annotations/training/ADE_train_{i:08d}.png' for i in range(1, 9)]
        + [f'annotations/validation/ADE_val_{i:08d}.png' for i in range(1, 5)]
        + [f'images/training/ADE_train_{i:08d}.jpg' for i in range(1, 9)] +
        [f'images/validation/ADE_val_{i:08d}.jpg' for i in range(1, 5)])
    assert files == sorted(expected)
    assert osp.basename(ade_root) == 'ADEChallengeData2016'


def test_ade_labels_and_sizes(ade_gen, ade_root):
    import cv2
    shapes, values = set(), set()
    for ann in glob.glob(osp.join(ade_root, 'annotations', '*', '*.png')):
        label = cv2.imread(ann, cv2.IMREAD_UNCHANGED)
        img = cv2.imread(
            ann.replace('annotations', 'images').replace('.png', '.jpg'))
        assert label.dtype == np.uint8 and label.ndim == 2
        assert img.shape[:2] == label.shape
        for side in label.shape:  # 0.8x..1.2x of 64, never a multiple of 16
            assert 51 <= side <= 78 and side % 16 != 0
        shapes.add(label.shape)
        values |= set(np.unique(label).tolist())
    assert len(shapes) > 1  # not all the same size
    assert values <= {0} | set(ade_gen.CLASSES)
    assert len(values - {0}) >= 4  # background + several object classes


def test_ade_loads_with_mmseg_dataset(ade_root):
    for split, num in (('training', 8), ('validation', 4)):
        ds = _build_dataset('ADE20KDataset', ade_root, f'images/{split}',
                            f'annotations/{split}', True)
        assert len(ds) == num
        seen = set()
        for i in range(num):
            sample = ds[i]
            gt = sample['data_samples'].gt_sem_seg.data
            assert tuple(gt.shape[-2:]) == tuple(sample['inputs'].shape[-2:])
            vals = set(gt.unique().tolist())
            assert vals <= set(range(150)) | {255}
            seen |= vals - {255}
        assert len(seen) >= 3


def test_ade_deterministic(ade_gen, ade_root, tmp_path):
    same = ade_gen.make_mini_ade20k(
        str(tmp_path / 'a'), num_train=8, num_val=4, size=64, seed=0,
        verbose=False)
    other = ade_gen.make_mini_ade20k(
        str(tmp_path / 'b'), num_train=8, num_val=4, size=64, seed=1,
        verbose=False)
    files = _files(ade_root)
    assert _files(same) == files
    match, mismatch, errors = filecmp.cmpfiles(
        ade_root, same, files, shallow=False)
    assert mismatch == [] and errors == [] and len(match) == len(files)
    _, mismatch, _ = filecmp.cmpfiles(ade_root, other, files, shallow=False)
    assert len(mismatch) == len(files)  # another seed: other images


def test_ade_val_independent_of_num_train(ade_gen, ade_root, tmp_path):
    fewer = ade_gen.make_mini_ade20k(
        str(tmp_path), num_train=2, num_val=4, size=64, seed=0,
        verbose=False)
    val = [f for f in _files(ade_root) if 'validation' in f]
    match, _, _ = filecmp.cmpfiles(ade_root, fewer, val, shallow=False)
    assert len(match) == len(val) == 8


def test_ade_is_learnable(ade_gen, tmp_path):
    """A nearest-class-mean colour classifier on 5x5-blurred pixels, fit on
    train, beats the majority class by far on val; but the raw per-pixel
    colours are noisy (not a lookup)."""
    import cv2
    root = ade_gen.make_mini_ade20k(
        str(tmp_path), num_train=12, num_val=4, size=96, seed=3,
        verbose=False)

    def pixels(folder, blur):
        xs, ys = [], []
        for ann in sorted(
                glob.glob(osp.join(root, 'annotations', folder, '*.png'))):
            label = cv2.imread(ann, cv2.IMREAD_UNCHANGED)
            img = cv2.imread(
                ann.replace('annotations', 'images').replace('.png', '.jpg'))
            img = img.astype(np.float32)
            if blur:
                img = cv2.blur(img, (5, 5))
            keep = label > 0
            xs.append(img[keep])
            ys.append(label[keep])
        return np.concatenate(xs), np.concatenate(ys)

    x, y = pixels('training', True)
    classes = np.unique(y)
    means = np.stack([x[y == c].mean(0) for c in classes])
    xv, yv = pixels('validation', True)
    pred = classes[np.argmin(((xv[:, None] - means[None])**2).sum(-1), 1)]
    acc = (pred == yv).mean()
    majority = np.bincount(y).argmax()
    assert acc > 0.85 and acc > (yv == majority).mean() + 0.3
    # and pixels really vary within a class
    xr, yr = pixels('training', False)
    assert xr[yr == majority].std(0).mean() > 8


def test_trivial_miou_matches_mmseg_iou_metric(ade_gen, ade_root):
    import torch
    from mmseg.evaluation import IoUMetric
    from mmseg.datasets import ADE20KDataset

    ours = trivial_miou(ade_root)
    # the parent directory works too
    assert trivial_miou(osp.dirname(ade_root)) == ours

    train = _build_dataset('ADE20KDataset', ade_root, 'images/training',
                           'annotations/training', True)
    counts = np.zeros(256, np.int64)
    for i in range(len(train)):
        gt = train[i]['data_samples'].gt_sem_seg.data.numpy().ravel()
        counts += np.bincount(gt, minlength=256)
    counts[255] = 0
    majority = int(counts.argmax())

    val = _build_dataset('ADE20KDataset', ade_root, 'images/validation',
                         'annotations/validation', True)
    metric = IoUMetric(iou_metrics=['mIoU'])
    metric.dataset_meta = ADE20KDataset.METAINFO
    for i in range(len(val)):
        gt = val[i]['data_samples'].gt_sem_seg.data
        pred = torch.full_like(gt, majority)
        metric.process({}, [dict(pred_sem_seg=dict(data=pred),
                                 gt_sem_seg=dict(data=gt))])
    expected = metric.compute_metrics(metric.results)['mIoU']
    assert ours == pytest.approx(float(expected), abs=0.011)
    assert 0 < ours < 25  # far below what a model should reach


def test_ade_cli(ade_gen, tmp_path, capsys):
    ade_gen.main([str(tmp_path), '--num-train', '2', '--num-val', '1',
                  '--size', '40', '--seed', '5'])
    out = capsys.readouterr().out
    assert 'ADEChallengeData2016' in out and 'trivial' in out
    root = tmp_path / 'ADEChallengeData2016'
    assert len(list((root / 'images' / 'training').glob('*.jpg'))) == 2
    assert len(list((root / 'annotations' / 'validation').glob('*.png'))) == 1


def test_cityscapes_layout(city_root):
    files = _files(city_root)
    assert len(files) == 12
    imgs = [f for f in files if f.startswith('leftImg8bit/')]
    anns = [f for f in files if f.startswith('gtFine/')]
    assert len(imgs) == len(anns) == 6
    assert 'leftImg8bit/train/aachen/aachen_000000_000000_leftImg8bit.png' \
        in imgs
    assert ('gtFine/val/frankfurt/frankfurt_000000_000001_gtFine_'
            'labelTrainIds.png') in anns
    for img in imgs:
        ann = img.replace('leftImg8bit/', 'gtFine/', 1).replace(
            '_leftImg8bit.png', '_gtFine_labelTrainIds.png')
        assert ann in anns


def test_cityscapes_loads_with_mmseg_dataset(city_root):
    import cv2
    for split, num in (('train', 4), ('val', 2)):
        ds = _build_dataset('CityscapesDataset', city_root,
                            f'leftImg8bit/{split}', f'gtFine/{split}', False)
        assert len(ds) == num
        for i in range(num):
            sample = ds[i]
            gt = sample['data_samples'].gt_sem_seg.data
            assert tuple(gt.shape[-2:]) == (64, 128)
            vals = set(gt.unique().tolist())
            assert vals <= set(range(19)) | {255}
            # sky, road, building, car and the ignored ego band everywhere
            assert {0, 2, 10, 13, 255} <= vals
            img = cv2.imread(sample['data_samples'].img_path)
            assert img.shape == (64, 128, 3)


def test_cityscapes_deterministic(city_gen, city_root, tmp_path):
    same = city_gen.make_mini_cityscapes(
        str(tmp_path / 'a'), num_train=4, num_val=2, height=64, width=128,
        seed=0, verbose=False)
    other = city_gen.make_mini_cityscapes(
        str(tmp_path / 'b'), num_train=4, num_val=2, height=64, width=128,
        seed=7, verbose=False)
    files = _files(city_root)
    match, mismatch, errors = filecmp.cmpfiles(
        city_root, same, files, shallow=False)
    assert mismatch == [] and errors == [] and len(match) == len(files)
    _, mismatch, _ = filecmp.cmpfiles(city_root, other, files, shallow=False)
    assert len(mismatch) == len(files)


def test_cityscapes_cli(city_gen, tmp_path, capsys):
    city_gen.main([str(tmp_path), '--num-train', '1', '--num-val', '1',
                   '--height', '32', '--width', '48'])
    assert 'cityscapes' in capsys.readouterr().out
    import cv2
    (img, ) = glob.glob(str(tmp_path / 'cityscapes' / 'leftImg8bit' / 'val'
                            / '*' / '*.png'))
    assert cv2.imread(img).shape == (32, 48, 3)


# ------------------------------------------------------------------ test.py
# Self-contained configs on top of mmseg's / mmdet's own bases, so that the
# option handling is tested independently of the repo's model configs.
SEG_CONFIG = """
_base_ = ['mmseg::_base_/datasets/ade20k.py',
          'mmseg::_base_/default_runtime.py',
          'mmseg::_base_/schedules/schedule_20k.py']
model = dict(type='EncoderDecoder',
             backbone=dict(type='VECA', core_budgets=32),
             decode_head=dict(type='FCNHead', num_classes=150))
"""


@pytest.fixture
def seg_config(tmp_path):
    path = tmp_path / 'seg_cfg.py'
    path.write_text(SEG_CONFIG)
    return str(path)


@pytest.fixture
def mmdet_config(tmp_path):
    path = tmp_path / 'det_cfg.py'
    path.write_text(
        "_base_ = 'mmdet::_base_/default_runtime.py'\n"
        "model = dict(type='RetinaNet', backbone=dict(type='ResNet', "
        "depth=18))\n"
        "test_evaluator = dict(type='CocoMetric', ann_file='a.json')\n")
    return str(path)


def test_core_budgets_parsing(test_tool):
    assert test_tool.parse_core_budgets(None) is None
    assert test_tool.parse_core_budgets([16]) == 16
    assert test_tool.parse_core_budgets([64, 32, 16, 8]) == (64, 32, 16, 8)
    with pytest.raises(ValueError):
        test_tool.parse_core_budgets([0])
    args = test_tool.parse_args(['c.py', 'w.pth', '--core-budgets', '8', '4'])
    assert args.core_budgets == [8, 4]


@pytest.mark.parametrize('budgets,expected', [(['16'], 16),
                                              (['24', '16', '8', '8'],
                                               (24, 16, 8, 8))])
def test_core_budgets_patch_config(test_tool, budgets, expected, seg_config):
    args = test_tool.parse_args(
        [seg_config, 'ckpt.pth', '--core-budgets', *budgets])
    cfg = test_tool.build_cfg(args)
    assert cfg.model.backbone.core_budgets == expected
    assert cfg.load_from == 'ckpt.pth'
    assert cfg.work_dir == osp.join('./work_dirs', 'seg_cfg')
    # without the flag, the config's own budget stays
    cfg = test_tool.build_cfg(test_tool.parse_args([seg_config, 'x']))
    assert cfg.model.backbone.core_budgets == 32


def test_core_budgets_refuses_other_backbones(test_tool, mmdet_config):
    """A ResNet has no core budget: the option is an error naming it, not a
    key written into the ResNet's config."""
    args = test_tool.parse_args([mmdet_config, 'c.pth', '--core-budgets',
                                 '16'])
    with pytest.raises(ValueError, match="model.backbone is 'ResNet', not a "
                       'VECA backbone'):
        test_tool.build_cfg(args)
    from mmengine.config import Config
    cfg = Config(dict(default_scope='mmseg', model=dict(
        type='EncoderDecoder', backbone=dict(type='mmseg.ResNetV1c'))))
    with pytest.raises(ValueError, match="'ResNetV1c', not a VECA"):
        test_tool.apply_core_budgets(cfg, [16])
    # VECA however it is named (scoped, or the class itself)
    from veca_mm.models.backbones import VECA
    for t in ('VECA', 'mmseg.VECA', VECA):
        cfg = Config(dict(model=dict(backbone=dict(type=t))))
        assert test_tool.apply_core_budgets(
            cfg, [16]).model.backbone.core_budgets == 16


def test_core_budgets_checked_the_same_way_in_every_tool(
        test_tool, seg_config, mmdet_config):
    """--core-budgets is checked by the model's own rules (VECA-B: chunks
    of 8, stages that split its 12 layers) before anything is loaded, and
    a non-VECA backbone gets the same error from every tool that takes the
    option (the checkpoint named here does not exist: it is never read)."""
    for bad, why in ((['12'], 'chunks of 8'), (['8'] * 5, '5')):
        args = test_tool.parse_args([seg_config, 'c.pth', '--core-budgets',
                                     *bad])
        with pytest.raises(ValueError, match=f'--core-budgets .*{why}'):
            test_tool.build_cfg(args)
    demo = load_tool('tools/image_demo.py')
    onnx = load_tool('tools/deployment/pytorch2onnx.py')
    assert demo.load_cfg(seg_config, [24, 8]).model.backbone.core_budgets \
        == (24, 8)
    with pytest.raises(ValueError, match='chunks of 8'):
        demo.load_cfg(seg_config, [12])
    for load in (lambda: demo.load_cfg(mmdet_config, [16]),
                 lambda: onnx.load_model(mmdet_config, 'missing.pth', [16])):
        with pytest.raises(ValueError, match="model.backbone is 'ResNet', "
                           'not a VECA backbone'):
            load()


def test_amp_ignored_warning_on_cpu(train_tool, seg_config):
    """The Troubleshooting row: --amp without a GPU warns and keeps fp32."""
    import logging

    import torch
    from mmengine.logging import MMLogger
    if torch.cuda.is_available():
        pytest.skip('a GPU is present: --amp is honoured')
    seen = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: seen.append(record.getMessage())
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        cfg = train_tool.build_cfg(
            train_tool.parse_args([seg_config, '--amp']))
    finally:
        logger.removeHandler(handler)
    assert cfg.optim_wrapper.get('type', 'OptimWrapper') == 'OptimWrapper'
    assert any(m.startswith('--amp ignored: mmengine AmpOptimWrapper needs '
                            'a GPU/NPU/MLU/MUSA') for m in seen), seen


def test_core_budgets_needs_backbone(test_tool):
    from mmengine.config import Config
    cfg = Config(dict(model=dict(type='EncoderDecoder')))
    with pytest.raises(ValueError, match='backbone'):
        test_tool.apply_core_budgets(cfg, [16])
    with pytest.raises(ValueError, match='backbone'):
        test_tool.apply_core_budgets(Config(dict()), [16])


def test_show_dir_mmseg(test_tool, seg_config, tmp_path):
    show_dir = tmp_path / 'vis'
    args = test_tool.parse_args([
        seg_config, 'ckpt.pth', '--show-dir',
        str(show_dir), '--work-dir',
        str(tmp_path / 'wd')
    ])
    cfg = test_tool.build_cfg(args)
    hook = cfg.default_hooks.visualization
    assert hook.type == 'SegVisualizationHook'
    assert hook.draw is True and not hook.get('show', False)
    assert cfg.visualizer.save_dir == str(show_dir)
    assert 'test_out_dir' not in hook
    assert cfg.work_dir == str(tmp_path / 'wd')

    cfg = test_tool.build_cfg(
        test_tool.parse_args(
            [seg_config, 'c.pth', '--show', '--wait-time', '0.5']))
    hook = cfg.default_hooks.visualization
    assert hook.draw and hook.show and hook.wait_time == 0.5
    assert cfg.train_dataloader is None and cfg.optim_wrapper is None
    assert 'save_dir' not in cfg.visualizer
    # nothing asked for: the hook stays off
    cfg = test_tool.build_cfg(test_tool.parse_args([seg_config, 'c']))
    assert not cfg.default_hooks.visualization.get('draw', False)


def test_show_dir_and_out_mmdet(test_tool, mmdet_config, tmp_path):
    show_dir = tmp_path / 'det_vis'
    out = str(tmp_path / 'res.pkl')
    cfg = test_tool.build_cfg(
        test_tool.parse_args([
            mmdet_config, 'ckpt.pth', '--show-dir',
            str(show_dir), '--out', out
        ]))
    assert cfg.default_scope == 'mmdet'
    hook = cfg.default_hooks.visualization
    assert hook.type == 'DetVisualizationHook' and hook.draw is True
    assert hook.test_out_dir == str(show_dir)
    assert 'save_dir' not in cfg.visualizer
    assert 'core_budgets' not in cfg.model.backbone
    assert [m['type'] for m in cfg.test_evaluator] == [
        'CocoMetric', 'DumpDetResults'
    ]
    from mmdet.registry import METRICS
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')  # what the runner does for this config
    dump = METRICS.build(cfg.test_evaluator[-1])
    assert type(dump).__name__ == 'DumpDetResults'
    assert dump.out_file_path == out
    with pytest.raises(ValueError, match='pkl'):
        test_tool.build_cfg(
            test_tool.parse_args([mmdet_config, 'c', '--out', 'res.json']))


def test_out_mmseg(test_tool, seg_config, tmp_path):
    cfg = test_tool.build_cfg(
        test_tool.parse_args(
            [seg_config, 'c.pth', '--out',
             str(tmp_path / 'preds')]))
    assert cfg.test_evaluator['type'] == 'IoUMetric'
    assert cfg.test_evaluator['output_dir'] == str(tmp_path / 'preds')
    assert cfg.test_evaluator['keep_results'] is True


def test_tta_mmseg(test_tool, seg_config):
    cfg = test_tool.build_cfg(
        test_tool.parse_args([seg_config, 'c.pth', '--tta']))
    assert cfg.model.type == 'SegTTAModel'
    assert cfg.model.module.backbone.core_budgets == 32
    assert cfg.test_dataloader.dataset.pipeline[1].type == \
        'TestTimeAug'


@pytest.mark.parametrize('config', REPO_MINI_CONFIGS,
                         ids=[c.name for c in REPO_MINI_CONFIGS])
def test_repo_mini_configs(test_tool, train_tool, config, tmp_path):
    """The repo's small configs go through both tools' option handling."""
    cfg = test_tool.build_cfg(
        test_tool.parse_args([
            str(config), 'ckpt.pth', '--core-budgets', '8', '--show-dir',
            str(tmp_path / 'vis'), '--out',
            str(tmp_path / 'out.pkl')
        ]))
    assert cfg.model.backbone.core_budgets == 8
    assert cfg.default_hooks.visualization.draw is True
    assert cfg.load_from == 'ckpt.pth'
    cfg = train_tool.build_cfg(
        train_tool.parse_args([str(config), '--resume']))
    assert cfg.resume is True
    assert cfg.work_dir == osp.join('./work_dirs', config.stem)


# ----------------------------------------------------------------- train.py
def test_train_args(train_tool, seg_config, monkeypatch):
    cfg = train_tool.build_cfg(train_tool.parse_args([seg_config]))
    assert cfg.work_dir == osp.join('./work_dirs', 'seg_cfg')
    assert not cfg.get('resume', False)
    assert cfg.optim_wrapper.type == 'OptimWrapper'

    cfg = train_tool.build_cfg(
        train_tool.parse_args([seg_config, '--resume']))
    assert cfg.resume is True and cfg.load_from is None
    cfg = train_tool.build_cfg(
        train_tool.parse_args([seg_config, '--resume', 'a/iter_5.pth']))
    assert cfg.resume is True and cfg.load_from == 'a/iter_5.pth'

    cfg = train_tool.build_cfg(
        train_tool.parse_args([
            seg_config, '--cfg-options', 'train_cfg.max_iters=7',
            'model.backbone.core_budgets=16'
        ]))
    assert cfg.train_cfg.max_iters == 7
    assert cfg.model.backbone.core_budgets == 16

    monkeypatch.setattr(train_tool, '_amp_available', lambda: True)
    cfg = train_tool.build_cfg(
        train_tool.parse_args([seg_config, '--amp']))
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.optim_wrapper.optimizer.lr == 0.01  # the rest is kept
    monkeypatch.setattr(train_tool, '_amp_available', lambda: False)
    cfg = train_tool.build_cfg(
        train_tool.parse_args([seg_config, '--amp']))
    assert cfg.optim_wrapper.type == 'OptimWrapper'  # no device for AMP


def test_train_auto_scale_lr(train_tool, seg_config):
    with pytest.raises(RuntimeError, match='auto_scale_lr'):
        train_tool.build_cfg(
            train_tool.parse_args([seg_config, '--auto-scale-lr']))
    args = train_tool.parse_args([
        seg_config, '--auto-scale-lr', '--cfg-options',
        'auto_scale_lr.enable=False', 'auto_scale_lr.base_batch_size=16'
    ])
    cfg = train_tool.build_cfg(args)
    assert cfg.auto_scale_lr.enable is True
    assert cfg.auto_scale_lr.base_batch_size == 16


# ------------------------------------------------- end to end, no VECA
TINY_SEG_CONFIG = """
_base_ = ['mmseg::_base_/datasets/ade20k.py',
          'mmseg::_base_/default_runtime.py']
data_root = {data_root!r}
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
        seg_pad_val=255, size=(48, 48)),
    backbone=dict(type='ResNetV1c', depth=18, stem_channels=8,
                  base_channels=4, num_stages=2, strides=(1, 2),
                  dilations=(1, 1), out_indices=(1, ),
                  norm_cfg=dict(type='BN', requires_grad=True)),
    decode_head=dict(type='FCNHead', in_channels=8, in_index=0, channels=8,
                     num_convs=1, concat_input=False, num_classes=150,
                     norm_cfg=dict(type='BN', requires_grad=True),
                     loss_decode=dict(type='CrossEntropyLoss',
                                      loss_weight=1.0)),
    train_cfg=dict(), test_cfg=dict(mode='whole'))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomCrop', crop_size=(48, 48)),
    dict(type='PackSegInputs')]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')]
# mmseg's ADE20K loaders (samplers, folders) without workers
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root,
                                     pipeline=train_pipeline))
val_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root,
                                   pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(iou_metrics=['mIoU'])
test_evaluator = val_evaluator
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
param_scheduler = []
train_cfg = dict(type='IterBasedTrainLoop', max_iters=2, val_interval=2)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=2),
    visualization=dict(type='SegVisualizationHook'))
"""


def test_train_resume_and_test_end_to_end(train_tool, test_tool, ade_root,
                                          tmp_path):
    cfg_path = tmp_path / 'tiny_seg.py'
    cfg_path.write_text(TINY_SEG_CONFIG.format(data_root=ade_root))
    work_dir = str(tmp_path / 'work')

    train_tool.main([str(cfg_path), '--work-dir', work_dir, '--cfg-options',
                     'experiment_name=e2e_train'])
    ckpt = osp.join(work_dir, 'iter_2.pth')
    assert osp.isfile(ckpt)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read().strip().endswith('iter_2.pth')

    # bare --resume picks up iter_2 and trains on to iter 4
    args = train_tool.parse_args([
        str(cfg_path), '--work-dir', work_dir, '--resume', '--cfg-options',
        'train_cfg.max_iters=4', 'experiment_name=e2e_resume'
    ])
    runner = train_tool.build_runner(train_tool.build_cfg(args))
    runner.train()
    assert runner.iter == 4
    assert osp.isfile(osp.join(work_dir, 'iter_4.pth'))
    logs = [
        Path(p).read_text()
        for p in glob.glob(osp.join(work_dir, '*', '*.log'))
    ]
    assert any('resumed epoch: 0, iter: 2' in log for log in logs)

    out_dir = tmp_path / 'preds'
    show_dir = tmp_path / 'vis'
    metrics = test_tool.main([
        str(cfg_path), ckpt, '--work-dir', work_dir, '--out',
        str(out_dir), '--show-dir',
        str(show_dir), '--cfg-options', 'experiment_name=e2e_test',
        # visualizers are per-process singletons looked up by name: a fresh
        # name, or this run would reuse the training run's (and its save_dir)
        'visualizer.name=e2e_test_vis',
        # testing must not need the training set (mmseg's visualization hook
        # would build the train loop through runner.iter)
        'train_dataloader.dataset.data_prefix.img_path=missing'
    ])
    assert 'mIoU' in metrics
    preds = sorted(p.name for p in out_dir.glob('*.png'))
    assert preds == [f'ADE_val_{i:08d}.png' for i in range(1, 5)]
    drawn = list(show_dir.glob('vis_data/vis_image/*.png'))
    assert len(drawn) == 4
