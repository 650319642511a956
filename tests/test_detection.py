"""Detection / instance segmentation through the real mmdet pieces and tools.

One mini COCO set (``tools/dataset_converters/make_mini_coco.py``) is
generated per module; the tiny VECA Mask R-CNN trains on it through
``tools/train.py`` and is evaluated through ``tools/test.py``.
"""
import glob
import importlib
import json
import math
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

import veca_mm  # noqa: F401  (registers VECA, the neck, the constructor)
from veca_mm.utils import load_checkpoint_safely
from mmengine.config import Config
from mmengine.registry import init_default_scope

from .conftest import REPO, load_tool
from .learning import check_learnt, seed_opts
from .tool_runs import run_tool

MINI = REPO / 'configs/mini/mask-rcnn_veca-t_1xb2-20_mini-coco-128x128.py'
HEADLINE_MASK = REPO / 'configs/veca_mask-rcnn_coco.py'
HEADLINE_RETINA = REPO / 'configs/veca_retinanet_coco.py'
TINY_ARCH = dict(embed_dims=64, num_layers=4, num_heads=2, mlp_ratio=2.0,
                 num_cores=16)
NUM_TRAIN, NUM_VAL = 16, 4
# long enough to learn (the spread: assert_learnt); lr 1e-3, the step at 85
TRAIN_ITERS = 100
LEARN = ['optim_wrapper.optimizer.lr=0.001',
         'param_scheduler.1.milestones=[85]',
         f'param_scheduler.1.end={TRAIN_ITERS}']
FAST = ['train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False']


def data_opts(root):
    root = str(root).rstrip('/') + '/'
    ann = root + 'annotations/instances_val2017.json'
    return [f'{k}_dataloader.dataset.data_root={root}'
            for k in ('train', 'val', 'test')] + [
                f'val_evaluator.ann_file={ann}',
                f'test_evaluator.ann_file={ann}']


def mini_cfg(root):
    """The tiny config with the generated set's paths, as a Config."""
    cfg = Config.fromfile(MINI)
    opts = {}
    for opt in data_opts(root) + FAST:
        k, v = opt.split('=', 1)
        opts[k] = {'False': False, '0': 0}.get(v, v)
    cfg.merge_from_dict(opts)
    return cfg


@pytest.fixture(scope='module')
def mini_coco(tmp_path_factory):
    out = tmp_path_factory.mktemp('mini_coco')
    load_tool('tools/dataset_converters/make_mini_coco.py').make_mini_coco(
        str(out), num_train=NUM_TRAIN, num_val=NUM_VAL, size=128, seed=0)
    return out


# --------------------------------------------------------------------------
# (1) the generator, read by mmdet's own CocoDataset
def test_mini_coco_generator(mini_coco, tmp_path):
    import pycocotools.mask as mask_utils
    from pycocotools.coco import COCO

    gen = load_tool('tools/dataset_converters/make_mini_coco.py')
    kinds = set()
    for split, n in (('train', NUM_TRAIN), ('val', NUM_VAL)):
        coco = COCO(str(mini_coco / f'annotations/instances_{split}2017.json'))
        assert len(coco.getImgIds()) == n
        assert sorted(coco.getCatIds()) == [1, 2, 3]
        assert [c['name'] for c in coco.loadCats([1, 2, 3])] == list(
            gen.CLASSES)
        for img in coco.loadImgs(coco.getImgIds()):
            pixels = cv2.imread(
                str(mini_coco / f'{split}2017' / img['file_name']))
            assert pixels.shape[:2] == (img['height'], img['width'])
            anns = coco.loadAnns(coco.getAnnIds(imgIds=img['id']))
            assert len(anns) >= 2
            for ann in anns:
                assert ann['iscrowd'] == 0
                kinds.add(type(ann['segmentation']).__name__)
                rle = coco.annToRLE(ann)
                m = coco.annToMask(ann).astype(bool)
                assert m.shape == pixels.shape[:2]
                assert ann['area'] == pytest.approx(m.sum())
                np.testing.assert_allclose(ann['bbox'],
                                           mask_utils.toBbox(rle))
                ys, xs = np.nonzero(m)
                assert ann['bbox'][0] == xs.min()
                assert ann['bbox'][1] == ys.min()
                # the shape is painted in its category's colour (BGR here)
                rgb = np.asarray(gen.CATEGORIES[ann['category_id']][1])
                mean = pixels[m][:, ::-1].mean(0)
                assert np.argmax(mean) == np.argmax(rgb)
    assert kinds == {'list', 'dict'}  # polygons and RLE

    # deterministic from the seed
    again = tmp_path / 'again'
    gen.make_mini_coco(str(again), num_train=NUM_TRAIN, num_val=NUM_VAL,
                       size=128, seed=0)
    for rel in ('annotations/instances_train2017.json',
                'train2017/000000000001.jpg'):
        assert (again / rel).read_bytes() == (mini_coco / rel).read_bytes()
    # the command line writes the same layout
    cli = tmp_path / 'cli'
    out = run_tool(['tools/dataset_converters/make_mini_coco.py', cli,
                    '--num-train', '2', '--num-val', '1', '--size', '96'])
    assert 'instances_train2017.json: 2 images' in out
    assert len(list((cli / 'val2017').glob('*.jpg'))) == 1
    other = tmp_path / 'other'
    gen.make_mini_coco(str(other), num_train=1, num_val=1, seed=1)
    assert (other / 'train2017/000000000001.jpg').read_bytes() != (
        mini_coco / 'train2017/000000000001.jpg').read_bytes()


def test_mini_coco_through_mmdet_dataset(mini_coco):
    from mmdet.registry import DATASETS
    from mmdet.structures.mask import BitmapMasks
    from pycocotools.coco import COCO

    init_default_scope('mmdet')
    cfg = mini_cfg(mini_coco)
    # the raw decoding: every instance kept, both mask encodings decode to
    # exactly the mask pycocotools gives
    ds_cfg = cfg.train_dataloader.dataset.copy()
    ds_cfg.pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True, with_mask=True)
    ]
    dataset = DATASETS.build(ds_cfg)
    assert dataset.metainfo['classes'] == ('circle', 'square', 'triangle')
    assert len(dataset) == NUM_TRAIN
    coco = COCO(str(mini_coco / 'annotations/instances_train2017.json'))
    seen = set()
    for i in range(len(dataset)):
        res = dataset[i]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=res['img_id']))
        masks = res['gt_masks']
        assert isinstance(masks, BitmapMasks)
        assert len(masks) == len(anns) == len(res['gt_bboxes'])
        assert not res['gt_ignore_flags'].any()
        for m, ann, label in zip(masks.masks, anns, res['gt_bboxes_labels']):
            seen.add(type(ann['segmentation']).__name__)
            np.testing.assert_array_equal(m, coco.annToMask(ann))
            assert dataset.metainfo['classes'][label] == coco.loadCats(
                ann['category_id'])[0]['name']
        # boxes (x1, y1, x2, y2) agree with the decoded masks
        np.testing.assert_allclose(res['gt_bboxes'].tensor.numpy(),
                                   masks.get_bboxes('hbox').tensor.numpy(),
                                   atol=1)
    assert seen == {'list', 'dict'}

    # the config's LSJ train pipeline (resize / crop / flip / pack)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    for i in range(len(dataset)):
        packed = dataset[i]
        img, sample = packed['inputs'], packed['data_samples']
        assert img.dtype == torch.uint8 and img.shape[0] == 3
        assert max(img.shape[1:]) <= 128
        gt = sample.gt_instances
        assert len(gt.masks) == len(gt.bboxes) == len(gt.labels)
        assert gt.masks.masks.shape[1:] == tuple(img.shape[1:])
        if len(gt):
            assert gt.masks.masks.any(axis=(1, 2)).all()


# --------------------------------------------------------------------------
# (2) train the tiny Mask R-CNN through tools/train.py
@pytest.fixture(scope='module')
def trained(mini_coco, tmp_path_factory):
    work = tmp_path_factory.mktemp('det_work')
    out = run_tool(
        ['tools/train.py', MINI, '--work-dir', work, '--cfg-options'] +
        data_opts(mini_coco) + FAST + LEARN + [
            f'train_cfg.max_iters={TRAIN_ITERS}',
            f'train_cfg.val_interval={TRAIN_ITERS}',
            f'default_hooks.checkpoint.interval={TRAIN_ITERS}',
            'default_hooks.logger.interval=1'
        ] + seed_opts())
    return work, out


def read_json_log(work_dir):
    logs = glob.glob(osp.join(work_dir, '*', 'vis_data', '*.json'))
    assert logs, f'no json log under {work_dir}'
    return [json.loads(line) for line in open(sorted(logs)[-1])]


def trivial_coco_metrics(root):
    """mmdet's CocoMetric of the trivial detector: on every val image, one
    box per class, the training set's mean box of that class (relative to
    the image), its rectangle as the mask, score 1."""
    from mmdet.evaluation import CocoMetric
    from pycocotools.coco import COCO
    train = COCO(str(root / 'annotations/instances_train2017.json'))
    ann_file = str(root / 'annotations/instances_val2017.json')
    val = COCO(ann_file)
    cats = sorted(train.getCatIds())
    rel = {}
    for c in cats:
        boxes = []
        for a in train.loadAnns(train.getAnnIds(catIds=[c])):
            img = train.loadImgs(a['image_id'])[0]
            x, y, w, h = a['bbox']
            boxes.append([x / img['width'], y / img['height'],
                          (x + w) / img['width'], (y + h) / img['height']])
        rel[c] = np.mean(boxes, axis=0)
    metric = CocoMetric(ann_file=ann_file, metric=['bbox', 'segm'])
    metric.dataset_meta = dict(classes=mini_cfg(root)
                               .test_dataloader.dataset.metainfo.classes)
    samples = []
    for img in val.loadImgs(val.getImgIds()):
        h, w = img['height'], img['width']
        boxes = torch.tensor(np.stack([rel[c] for c in cats]) *
                             np.array([w, h, w, h]), dtype=torch.float32)
        masks = torch.zeros(len(cats), h, w, dtype=torch.bool)
        for i, (x0, y0, x1, y1) in enumerate(boxes.round().int().tolist()):
            masks[i, y0:y1, x0:x1] = True
        samples.append(dict(
            img_id=img['id'], ori_shape=(h, w),
            pred_instances=dict(bboxes=boxes, scores=torch.ones(len(cats)),
                                labels=torch.arange(len(cats)),
                                masks=masks)))
    metric.process({}, samples)
    return metric.evaluate(len(samples))


def assert_learnt(test, metrics, trivial):
    """Detection and masks beat the trivial detector at IoU 0.5 by 0.01.

    The spread over seeds 0-4 on the native, avx2 and default kernel paths
    and seed 0 on two threads (16 runs, docs/testing.md): bbox mAP_50
    0.046-0.229 at the end of training, 0.060-0.266 at C=8; segm
    0.019-0.186 and 0.024-0.262; the trivial detector scores 0.000. (The
    earlier floors, 0.08 and 0.04, were set from two seeds on one CPU and
    failed at seed 0 here.)"""
    check_learnt(test, [
        (f'{task}_mAP_50', metrics[f'coco/{task}_mAP_50'],
         trivial[f'coco/{task}_mAP_50'],
         trivial[f'coco/{task}_mAP_50'] + 0.01, True)
        for task in ('bbox', 'segm')])


@pytest.mark.learns
def test_train_tiny_mask_rcnn(trained, mini_coco):
    work, _ = trained
    rows = read_json_log(work)
    train = [r for r in rows if 'loss' in r]
    assert [r['iter'] for r in train] == list(range(1, TRAIN_ITERS + 1))
    for key in ('loss', 'loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls',
                'loss_bbox', 'loss_mask'):
        assert all(math.isfinite(r[key]) for r in train), key
    assert all(r['loss'] > 0 for r in train)
    # the validation at the end of training ran CocoMetric (bbox and segm)
    val = [r for r in rows if 'coco/bbox_mAP' in r]
    assert val and 'coco/segm_mAP' in val[-1]
    # it learnt: the validation at the end beats the trivial detector
    assert_learnt('mask_rcnn@val', val[-1], trivial_coco_metrics(mini_coco))
    ckpt = work / f'iter_{TRAIN_ITERS}.pth'
    assert ckpt.is_file()
    state = load_checkpoint_safely(ckpt)  # mmengine's own file: allowlisted
    assert any(k.startswith('backbone.blocks.') for k in state['state_dict'])
    assert any(k.startswith('neck.') for k in state['state_dict'])
    assert state['meta']['iter'] == TRAIN_ITERS


# --------------------------------------------------------------------------
# (3) evaluate the checkpoint through tools/test.py
@pytest.mark.learns
def test_eval_tiny_mask_rcnn(trained, mini_coco, tmp_path):
    work, _ = trained
    show = tmp_path / 'show'
    pkl = tmp_path / 'preds.pkl'
    test_work = tmp_path / 'test'
    run_tool(['tools/test.py', MINI, work / f'iter_{TRAIN_ITERS}.pth',
              '--work-dir', test_work, '--show-dir', show, '--out', pkl,
              '--core-budgets', '8', '--cfg-options'] + data_opts(mini_coco) +
             FAST)
    logs = glob.glob(osp.join(test_work, '*', '*.json'))
    assert logs, 'tools/test.py wrote no metrics json'
    metrics = json.load(open(sorted(logs)[-1]))
    # at C = 8 (the smaller of the nested training budgets) it still beats
    # the trivial detector; and the numbers tools/test.py reports are
    # mmdet's COCO evaluation of exactly the predictions it dumped (--out)
    assert_learnt('mask_rcnn@C8', metrics, trivial_coco_metrics(mini_coco))
    import pickle
    from mmdet.evaluation import CocoMetric
    preds = pickle.load(open(pkl, 'rb'))
    metric = CocoMetric(ann_file=str(mini_coco / 'annotations' /
                                     'instances_val2017.json'),
                        metric=['bbox', 'segm'])
    metric.dataset_meta = dict(classes=mini_cfg(mini_coco)
                               .test_dataloader.dataset.metainfo.classes)
    metric.process({}, preds)
    again = metric.evaluate(len(preds))
    for task in ('bbox', 'segm'):
        for suffix in ('', '_50', '_75', '_s', '_m', '_l'):
            key = f'coco/{task}_mAP{suffix}'
            assert metrics[key] == pytest.approx(again[key], abs=1e-3), key
    drawn = sorted(p.name for p in show.iterdir())
    assert drawn == sorted(
        p.name for p in (mini_coco / 'val2017').iterdir())
    import mmcv
    img = mmcv.imread(str(show / drawn[0]))
    assert img is not None and img.ndim == 3
    assert len(preds) == NUM_VAL
    assert {'bboxes', 'scores', 'labels', 'masks'} <= set(
        preds[0]['pred_instances'])


# --------------------------------------------------------------------------
# (4) the headline configs: levels / strides, and a full VECA-B forward
def build_detector(cfg):
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    return MODELS.build(cfg.model)


def det_inputs(h, w, n=1, seed=0):
    from mmdet.structures import DetDataSample
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(n):
        inputs.append(torch.randint(0, 256, (3, h, w), generator=g,
                                    dtype=torch.uint8))
        samples.append(DetDataSample(metainfo=dict(
            img_shape=(h, w), ori_shape=(h, w), scale_factor=(1.0, 1.0))))
    return dict(inputs=inputs, data_samples=samples)


def neck_shapes(model, data):
    """Run ``model.test_step`` and capture the neck's output shapes."""
    shapes = []
    neck = model.neck[-1] if isinstance(model.neck, torch.nn.Sequential) \
        else model.neck
    handle = neck.register_forward_hook(
        lambda m, i, o: shapes.extend(tuple(x.shape) for x in o))
    with torch.inference_mode():
        results = model.test_step(data)
    handle.remove()
    return shapes, results


def check_headline(cfg):
    """The recipe both headline configs share."""
    assert cfg.default_scope == 'mmdet'
    backbone = cfg.model.backbone
    assert backbone.type == 'VECA' and backbone.arch == 'base'
    assert backbone.patch_size == 16 and backbone.drop_path_rate == 0.1
    assert backbone.init_cfg == dict(
        type='Pretrained', checkpoint='checkpoints/veca_base.pth')
    assert cfg.optim_wrapper.constructor == \
        'VECALayerDecayOptimizerConstructor'
    assert cfg.optim_wrapper.paramwise_cfg == dict(num_layers=12,
                                                   layer_decay_rate=0.7)
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.weight_decay) == ('AdamW', 1e-4, 0.1)
    # 1024x1024 large-scale jitter
    pipeline = cfg.train_dataloader.dataset.dataset.pipeline
    resize = [t for t in pipeline if t.type == 'RandomResize'][0]
    crop = [t for t in pipeline if t.type == 'RandomCrop'][0]
    assert resize.scale == (1024, 1024) and resize.ratio_range == (0.1, 2.0)
    assert crop.crop_size == (1024, 1024)


def test_headline_retinanet_levels_match_anchor_strides():
    """VECA-B RetinaNet: P3-P7 are exactly input / (8..128). (The Mask
    R-CNN levels are checked by the 1024x1024 forward below.)"""
    cfg = Config.fromfile(HEADLINE_RETINA)
    check_headline(cfg)
    assert cfg.model.neck[0].type == 'SimplePyramidNeck'
    assert cfg.model.neck[0].scale_factors == (2.0, 1.0, 0.5, 0.25)
    cfg.model.backbone.init_cfg = None
    model = build_detector(cfg).eval()
    assert [type(m).__name__ for m in model.neck] == ['SimplePyramidNeck',
                                                       'FPN']
    strides = [s[0] for s in model.bbox_head.prior_generator.strides]
    assert strides == [8, 16, 32, 64, 128]
    # a non-square size, padded by the data preprocessor to 128 multiples
    shapes, results = neck_shapes(model, det_inputs(250, 380))
    assert len(shapes) == len(strides)
    for (_, c, h, w), s in zip(shapes, strides):
        assert c == 256
        assert (h, w) == (256 // s, 384 // s), (shapes, strides)
    assert results[0].pred_instances.bboxes.shape[-1] == 4


DET_CONFIGS = sorted(
    [HEADLINE_MASK, HEADLINE_RETINA] +
    [p for p in (REPO / 'configs/veca').glob('*.py')
     if p.name.startswith(('mask-rcnn_', 'retinanet_'))])


@pytest.mark.parametrize('path', DET_CONFIGS, ids=lambda p: p.name)
def test_det_configs_consistent(path):
    """Every detection config: neck width = VECA width, layer decay over
    VECA's depth, strides 4-64 (Mask R-CNN) / 8-128 (RetinaNet), no SyncBN,
    COCO metric, an input padding that fits the coarsest level."""
    from veca_mm.models.backbones.veca import resolve_arch
    cfg = Config.fromfile(path)
    assert cfg.custom_imports == dict(imports=['veca_mm'],
                                      allow_failed_imports=False)
    arch = resolve_arch(cfg.model.backbone.arch)
    necks = cfg.model.neck if isinstance(cfg.model.neck, list) else [
        cfg.model.neck]
    assert necks[0].in_channels == arch['embed_dims']
    assert cfg.optim_wrapper.paramwise_cfg.num_layers == arch['num_layers']
    assert 'SyncBN' not in cfg.pretty_text
    pre = cfg.model.data_preprocessor
    if cfg.model.type == 'MaskRCNN':
        strides = cfg.model.rpn_head.anchor_generator.strides
        assert strides == [4, 8, 16, 32, 64]
        assert necks[0].scale_factors == (4.0, 2.0, 1.0, 0.5, 0.25)
        assert cfg.val_evaluator.metric == ['bbox', 'segm']
        for head in ('bbox_roi_extractor', 'mask_roi_extractor'):
            roi = cfg.model.roi_head[head].featmap_strides
            assert roi == strides[:len(roi)]
    else:
        strides = cfg.model.bbox_head.anchor_generator.strides
        assert strides == [8, 16, 32, 64, 128]
        assert cfg.val_evaluator.metric == 'bbox'
    assert cfg.val_evaluator.type == 'CocoMetric'
    assert pre.pad_size_divisor % max(strides) == 0
    fixed = [a for a in pre.batch_augments if a.type == 'BatchFixedSizePad']
    assert fixed and all(s % max(strides) == 0 for s in fixed[0].size)


def test_headline_mask_rcnn_vecab_forward_1024():
    """The full VECA-B Mask R-CNN runs one 1024x1024 image on the CPU."""
    cfg = Config.fromfile(HEADLINE_MASK)
    check_headline(cfg)
    assert cfg.model.roi_head.bbox_head.type == 'Shared4Conv1FCBBoxHead'
    cfg.model.backbone.init_cfg = None
    # fewer proposals than the config's 1000, to keep the RoI heads cheap,
    # and no score threshold, so the (random) mask head runs on 10 boxes
    cfg.model.test_cfg.rpn.max_per_img = 100
    cfg.model.test_cfg.rcnn.score_thr = 0.0
    cfg.model.test_cfg.rcnn.max_per_img = 10
    model = build_detector(cfg).eval()
    assert model.backbone.embed_dims == 768 and model.backbone.num_layers == 12
    shapes, results = neck_shapes(model, det_inputs(1024, 1024))
    assert shapes == [(1, 256, 1024 // s, 1024 // s) for s in (4, 8, 16, 32,
                                                                  64)]
    pred = results[0].pred_instances
    assert pred.bboxes.shape == (10, 4) and pred.labels.shape == (10, )
    assert pred.masks.shape == (10, 1024, 1024)
    assert torch.isfinite(pred.bboxes).all()


# --------------------------------------------------------------------------
# (5) mmcv's compiled ops are what runs
def test_mmcv_compiled_ops_run(mini_coco, monkeypatch):
    import mmcv
    from mmcv.ops import RoIAlign

    ext = importlib.import_module('mmcv._ext')
    assert ext.__file__.endswith(('.so', '.pyd'))
    for name in ('nms', 'roi_align_forward', 'roi_align_backward'):
        assert hasattr(ext, name), name
    roi_align_mod = importlib.import_module('mmcv.ops.roi_align')
    nms_mod = importlib.import_module('mmcv.ops.nms')
    assert roi_align_mod.ext_module is ext and nms_mod.ext_module is ext

    # count the calls into the extension while the tiny model predicts
    calls = {}

    class Spy:

        def __getattr__(self, name):
            fn = getattr(ext, name)

            def wrapped(*args, **kwargs):
                calls[name] = calls.get(name, 0) + 1
                return fn(*args, **kwargs)

            return wrapped

    monkeypatch.setattr(roi_align_mod, 'ext_module', Spy())
    monkeypatch.setattr(nms_mod, 'ext_module', Spy())

    model = build_detector(mini_cfg(mini_coco)).eval()
    for extractor in (model.roi_head.bbox_roi_extractor,
                      model.roi_head.mask_roi_extractor):
        for layer in extractor.roi_layers:
            assert isinstance(layer, RoIAlign)
            assert type(layer).__module__ == 'mmcv.ops.roi_align'
            assert layer.use_torchvision is False
    with torch.inference_mode():
        model.test_step(det_inputs(128, 128))
    assert calls.get('nms', 0) >= 1, calls  # RPN proposals at least
    assert calls.get('roi_align_forward', 0) >= 1, calls
    assert mmcv.__version__.startswith('2.')


# --------------------------------------------------------------------------
# (6) VECA composed into a stock mmdet config: RetinaNet-R50-FPN with its
# ResNet swapped for a tiny VECA and the simple pyramid put under its FPN
def test_veca_in_stock_retinanet_config_trains(mini_coco, tmp_path):
    from mmengine.runner import Runner

    gen = load_tool('tools/dataset_converters/make_mini_coco.py')
    import mmdet
    cfg = Config.fromfile(
        osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs', 'retinanet',
                 'retinanet_r50_fpn_1x_coco.py'))
    assert cfg.model.neck.type == 'FPN'
    cfg.merge_from_dict(dict(
        model=dict(
            backbone=dict(
                _delete_=True, type='VECA', arch=TINY_ARCH, patch_size=16,
                out_indices=(0, 1, 2, 3), init_cfg=None),
            # VECA's four stride-16 maps -> strides 4, 8, 16, 32 -> the
            # stock FPN (start_level=1, extra convs) -> strides 8..128
            neck=[
                dict(type='SimplePyramidNeck', in_channels=64,
                     out_channels=32, scale_factors=(4.0, 2.0, 1.0, 0.5)),
                dict(cfg.model.neck, in_channels=[32, 32, 32, 32],
                     out_channels=32),
            ],
            bbox_head=dict(num_classes=3, in_channels=32, feat_channels=32,
                           stacked_convs=1)),
        train_dataloader=dict(
            batch_size=2, num_workers=0, persistent_workers=False,
            dataset=dict(
                data_root=str(mini_coco) + '/',
                metainfo=dict(classes=gen.CLASSES, palette=gen.PALETTE),
                filter_cfg=dict(filter_empty_gt=True, min_size=8),
                pipeline=[
                    dict(type='LoadImageFromFile'),
                    dict(type='LoadAnnotations', with_bbox=True),
                    dict(type='Resize', scale=(128, 128), keep_ratio=True),
                    dict(type='RandomFlip', prob=0.5),
                    dict(type='PackDetInputs')
                ])),
        train_cfg=dict(_delete_=True, type='IterBasedTrainLoop',
                       max_iters=1),
        param_scheduler=[],
        default_hooks=dict(checkpoint=dict(by_epoch=False, interval=1),
                           logger=dict(interval=1)),
        work_dir=str(tmp_path),
    ))
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    cfg.pop('custom_imports', None)
    runner = Runner.from_cfg(cfg)
    assert type(runner.model.backbone).__name__ == 'VECA'
    assert [type(m).__name__ for m in runner.model.neck] == [
        'SimplePyramidNeck', 'FPN'
    ]
    runner.train()
    assert runner.iter == 1
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert math.isfinite(loss) and loss > 0
    assert osp.isfile(osp.join(tmp_path, 'iter_1.pth'))
