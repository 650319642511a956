"""Mask2Former on VECA: ADE20K semantic (mmseg) and COCO panoptic (mmdet).

The mini COCO panoptic generator is read by mmdet's own
``CocoPanopticDataset`` / ``LoadPanopticAnnotations`` and scored by
``CocoPanopticMetric`` (through ``panopticapi``); both tiny mini configs
train through ``tools/train.py`` and are evaluated through
``tools/test.py --core-budgets 8``; ``budget_sweep.py`` sweeps a panoptic
checkpoint; the headline configs run VECA-B at their crop size.
"""
import glob
import json
import math
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import veca_mm  # noqa: F401
from veca_mm.utils.mini_data import trivial_miou

from .conftest import REPO, load_tool
from .learning import check_learnt, seed_opts

MINI_ADE = REPO / 'configs/mini/mask2former_veca-t_1xb4-200_mini-ade20k-96x96.py'
MINI_PAN = (REPO / 'configs/mini/'
            'mask2former_veca-t_1xb2-200_mini-coco-panoptic-128x128.py')
HEAD_ADE = REPO / 'configs/veca_mask2former_ade20k.py'
HEAD_PAN = REPO / 'configs/veca_mask2former_coco-panoptic.py'
M2F_CONFIGS = sorted([HEAD_ADE, HEAD_PAN] +
                     list((REPO / 'configs/veca').glob('mask2former_*.py')))
GEN = 'tools/dataset_converters/make_mini_coco_panoptic.py'
NUM_TRAIN, NUM_VAL, ITERS = 4, 2, 3
# the semantic mini config's own 200-iteration schedule: long enough to
# learn (seed 0 measured mIoU 38.6 against the trivial predictor's ~4.6,
# 27 s on one core); the panoptic one would need minutes, so it runs ITERS
ADE_ITERS = 200
# mIoU points above the trivial predictor: 21.1-46.7 mIoU against the
# trivial 5.4 over seeds 0-4 on the native, avx2 and default kernel paths
# and seed 0 on two threads (16 runs, docs/testing.md)
MIOU_MARGIN = 10


def run_tool(args, timeout=300):
    # one intra-op thread: as fast for these tiny models, and no OpenMP
    # spin-waiting when the cores are shared
    env = dict(os.environ,
               OMP_NUM_THREADS=os.environ.get('VECA_TEST_THREADS', '1'))
    out = subprocess.run([sys.executable] + [str(a) for a in args], cwd=REPO,
                         capture_output=True, text=True, timeout=timeout,
                         env=env)
    assert out.returncode == 0, (out.stdout[-3000:] + out.stderr[-5000:])
    return out.stdout + out.stderr


def pan_opts(root, splits=('train', 'val', 'test')):
    root = str(root).rstrip('/') + '/'
    opts = [f'{s}_dataloader.dataset.data_root={root}' for s in splits]
    for ev in ('val', 'test'):
        opts += [
            f'{ev}_evaluator.0.ann_file={root}annotations/'
            'panoptic_val2017.json',
            f'{ev}_evaluator.0.seg_prefix={root}annotations/panoptic_val2017/',
            f'{ev}_evaluator.1.ann_file={root}annotations/'
            'instances_val2017.json']
    return opts


def ade_opts(root):
    return [f'{s}_dataloader.dataset.data_root={root}'
            for s in ('train', 'val', 'test')]


def short(iters):
    return [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
            f'default_hooks.checkpoint.interval={iters}',
            'default_hooks.logger.interval=1', 'train_dataloader.batch_size=2']


SHORT = short(ITERS)


def json_rows(work_dir, pattern):
    logs = sorted(glob.glob(osp.join(work_dir, *pattern)))
    assert logs, f'no json log under {work_dir}'
    return [json.loads(line) for line in open(logs[-1])]


@pytest.fixture(scope='module')
def mini_pan(tmp_path_factory):
    out = tmp_path_factory.mktemp('mini_coco_panoptic')
    load_tool(GEN).make_mini_coco_panoptic(str(out), num_train=NUM_TRAIN,
                                           num_val=NUM_VAL, size=96, seed=0)
    return out


@pytest.fixture(scope='module')
def mini_ade(tmp_path_factory):
    out = tmp_path_factory.mktemp('mini_ade')
    load_tool('tools/dataset_converters/make_mini_ade20k.py').make_mini_ade20k(
        str(out), num_train=NUM_TRAIN, num_val=NUM_VAL, size=96)
    return out / 'ADEChallengeData2016'


# --------------------------------------------------------------------------
# (1) the generator: COCO's panoptic format, read back independently
def test_mini_coco_panoptic_generator(mini_pan, tmp_path):
    import pycocotools.mask as mask_utils
    from panopticapi.utils import rgb2id

    gen = load_tool(GEN)
    for split, n in (('train', NUM_TRAIN), ('val', NUM_VAL)):
        pan = json.load(open(mini_pan / f'annotations/panoptic_{split}2017.json'))
        inst = json.load(open(mini_pan / f'annotations/instances_{split}2017.json'))
        cats = {c['id']: c for c in pan['categories']}
        assert [c['name'] for c in pan['categories']] == list(gen.CLASSES)
        assert [cats[i]['isthing'] for i in (1, 2, 3, 92, 105, 119)] == [
            1, 1, 1, 0, 0, 0]
        assert len(pan['images']) == len(pan['annotations']) == n
        things = {}
        for a in inst['annotations']:
            things.setdefault(a['image_id'], []).append(a)
        for img, ann in zip(pan['images'], pan['annotations']):
            assert ann['image_id'] == img['id']
            assert ann['file_name'] == img['file_name'].replace('.jpg', '.png')
            pixels = cv2.imread(str(mini_pan / f'{split}2017' / img['file_name']))
            rgb = cv2.imread(str(mini_pan / f'annotations/panoptic_{split}2017'
                                 / ann['file_name']))[..., ::-1]
            assert pixels.shape[:2] == rgb.shape[:2] == (img['height'],
                                                         img['width'])
            ids = rgb2id(rgb)  # panopticapi's own decoding
            segs = {s['id']: s for s in ann['segments_info']}
            # every non-void id in the PNG is a segment and vice versa
            assert set(np.unique(ids)) - {0} == set(segs)
            assert (ids == 0).any()  # void boundaries exist
            kinds = [cats[s['category_id']]['isthing'] for s in segs.values()]
            assert kinds.count(0) == 2 and kinds.count(1) >= 2
            for sid, s in segs.items():
                m = ids == sid
                assert s['area'] == m.sum() and s['iscrowd'] == 0
                ys, xs = np.nonzero(m)
                assert s['bbox'] == [xs.min(), ys.min(), xs.max() - xs.min() + 1,
                                     ys.max() - ys.min() + 1]
                if cats[s['category_id']]['isthing']:
                    # painted in its category's colour (BGR in ``pixels``)
                    want = np.asarray(cats[s['category_id']]['color'])
                    assert np.argmax(pixels[m][:, ::-1].mean(0)) == \
                        np.argmax(want)
            # instances json: the same things, as decodable RLE
            inst_masks = [mask_utils.decode(dict(
                a['segmentation'], counts=a['segmentation']['counts'].encode()))
                for a in things[img['id']]]
            pan_masks = [ids == sid for sid, s in segs.items()
                         if cats[s['category_id']]['isthing']]
            assert len(inst_masks) == len(pan_masks)
            for a, b in zip(inst_masks, pan_masks):
                np.testing.assert_array_equal(a.astype(bool), b)

    # deterministic from the seed; the command line writes the same layout
    again = tmp_path / 'again'
    gen.make_mini_coco_panoptic(str(again), num_train=NUM_TRAIN,
                                num_val=NUM_VAL, size=96, seed=0)
    for rel in ('annotations/panoptic_train2017.json',
                'annotations/panoptic_train2017/000000000001.png',
                'train2017/000000000001.jpg'):
        assert (again / rel).read_bytes() == (mini_pan / rel).read_bytes()
    out = run_tool([GEN, tmp_path / 'cli', '--num-train', '1', '--num-val',
                    '1', '--size', '64'])
    assert 'panoptic_train2017.json: 1 images' in out
    assert len(list((tmp_path / 'cli/annotations/panoptic_val2017').glob(
        '*.png'))) == 1
    with pytest.raises(ValueError, match='too small'):
        gen.make_mini_coco_panoptic(str(tmp_path / 'x'), size=16)


def mini_pan_cfg(root):
    cfg = Config.fromfile(MINI_PAN)
    opts = dict(o.split('=', 1) for o in pan_opts(root))
    cfg.merge_from_dict(opts)
    return cfg


# --------------------------------------------------------------------------
# (2) mmdet's dataset and metric on it (panopticapi-lite underneath)
def test_panoptic_dataset_and_metric(mini_pan):
    from mmdet.evaluation import CocoPanopticMetric
    from mmdet.evaluation.functional import INSTANCE_OFFSET
    from mmdet.registry import DATASETS

    init_default_scope('mmdet')
    cfg = mini_pan_cfg(mini_pan)
    ds_cfg = cfg.val_dataloader.dataset.copy()
    ds_cfg.pipeline = [dict(type='LoadImageFromFile'),
                       dict(type='LoadPanopticAnnotations')]
    dataset = DATASETS.build(ds_cfg)
    assert dataset.metainfo['classes'] == load_tool(GEN).CLASSES
    pan = json.load(open(mini_pan / 'annotations/panoptic_val2017.json'))
    cat2label = {1: 0, 2: 1, 3: 2, 92: 3, 105: 4, 119: 5}

    metric = CocoPanopticMetric(
        ann_file=str(mini_pan / 'annotations/panoptic_val2017.json'),
        seg_prefix=str(mini_pan / 'annotations/panoptic_val2017'))
    metric.dataset_meta = dataset.metainfo
    trivial = CocoPanopticMetric(
        ann_file=str(mini_pan / 'annotations/panoptic_val2017.json'),
        seg_prefix=str(mini_pan / 'annotations/panoptic_val2017'))
    trivial.dataset_meta = dataset.metainfo
    for i, ann in enumerate(pan['annotations']):
        res = dataset[i]
        segs = ann['segments_info']
        seg = res['gt_seg_map']
        # labels: things 0-2, stuff 3-5 (non-contiguous ids mapped), void 255
        assert set(np.unique(seg)) <= set(range(6)) | {255}
        assert (seg == 255).any()
        n_things = sum(s['category_id'] < 90 for s in segs)
        assert len(res['gt_masks']) == len(res['gt_bboxes_labels']) == n_things
        for s in segs:
            area = (seg == cat2label[s['category_id']]).sum()
            assert area >= s['area']
        # a perfect prediction in the model's output format: label +
        # instance index * INSTANCE_OFFSET, num_classes = void
        from panopticapi.utils import rgb2id
        ids = rgb2id(cv2.imread(str(
            mini_pan / 'annotations/panoptic_val2017' /
            ann['file_name']))[..., ::-1])
        perfect = np.full(ids.shape, len(cat2label), np.int64)
        for k, s in enumerate(segs):
            perfect[ids == s['id']] = cat2label[s['category_id']] + \
                k * INSTANCE_OFFSET
        # the trivial predictor: one segment of the most frequent stuff
        common = max((s for s in segs if s['category_id'] > 90),
                     key=lambda s: s['area'])
        flat = np.full(ids.shape, cat2label[common['category_id']], np.int64)
        for m, pred in ((metric, perfect), (trivial, flat)):
            m.process({}, [dict(
                img_id=ann['image_id'], img_path=res['img_path'],
                ori_shape=ids.shape, segments_info=res['segments_info'],
                pred_panoptic_seg=dict(
                    sem_seg=torch.from_numpy(pred)[None]))])
    perfect_pq = metric.evaluate(len(pan['annotations']))
    assert perfect_pq['coco_panoptic/PQ'] == pytest.approx(100.0)
    assert perfect_pq['coco_panoptic/RQ'] == pytest.approx(100.0)
    flat_pq = trivial.evaluate(len(pan['annotations']))
    print(f'trivial predictor PQ: {flat_pq["coco_panoptic/PQ"]:.2f}')
    assert flat_pq['coco_panoptic/PQ_th'] == 0.0
    assert flat_pq['coco_panoptic/PQ'] < 20.0


# --------------------------------------------------------------------------
# (3) the real Mask2Former loss goes down on a fixed batch: it learns
def test_mini_panoptic_mask2former_fits_a_batch(mini_pan):
    from mmdet.registry import DATASETS, MODELS
    from mmengine.dataset import pseudo_collate

    init_default_scope('mmdet')
    torch.manual_seed(0)
    cfg = mini_pan_cfg(mini_pan)
    ds_cfg = cfg.train_dataloader.dataset.copy()
    ds_cfg.pipeline = [dict(type='LoadImageFromFile', to_float32=True),
                       dict(type='LoadPanopticAnnotations'),
                       dict(type='Resize', scale=(96, 96), keep_ratio=True),
                       dict(type='PackDetInputs')]
    dataset = DATASETS.build(ds_cfg)
    batch = pseudo_collate([dataset[0], dataset[1]])
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    losses = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as fast for this tiny model, and no spinning
    try:
        for _ in range(10):
            data = model.data_preprocessor(batch, True)
            loss, _ = model.parse_losses(model(**data, mode='loss'))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
    finally:
        torch.set_num_threads(threads)
    assert all(math.isfinite(v) for v in losses)
    # measured: 45.2 -> 34.0 in 10 steps
    assert losses[-1] < 0.85 * losses[0], losses


# --------------------------------------------------------------------------
# (4) both mini configs through tools/train.py and tools/test.py
@pytest.fixture(scope='module')
def trained_pan(mini_pan, tmp_path_factory):
    work = tmp_path_factory.mktemp('m2f_pan_work')
    run_tool(['tools/train.py', MINI_PAN, '--work-dir', work,
              '--cfg-options'] + pan_opts(mini_pan) + SHORT)
    return work


@pytest.fixture(scope='module')
def trained_ade(mini_ade, tmp_path_factory):
    work = tmp_path_factory.mktemp('m2f_ade_work')
    run_tool(['tools/train.py', MINI_ADE, '--work-dir', work,
              '--cfg-options'] + ade_opts(mini_ade) + short(ADE_ITERS) +
             seed_opts())
    return work


def check_train_log(work, prefix, val_key, iters=ITERS):
    rows = json_rows(work, ('*', 'vis_data', '*.json'))
    train = [r for r in rows if 'loss' in r]
    assert [r['iter'] for r in train] == list(range(1, iters + 1))
    # Mask2Former's losses: class, mask (BCE) and dice for the final query
    # decoder layer and for every intermediate one (d0, d1, d2)
    for term in ('loss_cls', 'loss_mask', 'loss_dice'):
        for layer in ('', 'd0.', 'd1.', 'd2.'):
            key = f'{prefix}{layer}{term}'
            assert all(math.isfinite(r[key]) and r[key] > 0 for r in train), key
    assert any(val_key in r for r in rows), 'no validation at the end'
    assert (work / f'iter_{iters}.pth').is_file()


def test_mini_panoptic_train_and_test(trained_pan, mini_pan, tmp_path):
    check_train_log(trained_pan, '', 'coco_panoptic/PQ')
    test_work = tmp_path / 'test'
    run_tool(['tools/test.py', MINI_PAN, trained_pan / f'iter_{ITERS}.pth',
              '--work-dir', test_work, '--core-budgets', '8',
              '--cfg-options'] + pan_opts(mini_pan, splits=('test', )))
    metrics = json_rows(test_work, ('*', '*.json'))[-1]
    for key in ('PQ', 'SQ', 'RQ', 'PQ_th', 'SQ_th', 'RQ_th', 'PQ_st',
                'SQ_st', 'RQ_st'):
        assert 0 <= metrics[f'coco_panoptic/{key}'] <= 100, key
    assert -1 <= metrics['coco/segm_mAP'] <= 1
    # the model under test ran with 8 cores (the dumped config says so)
    dumped = Config.fromfile(next(test_work.glob('*.py')))
    assert dumped.model.backbone.core_budgets == 8


@pytest.mark.learns
def test_mini_semantic_train_and_test(trained_ade, mini_ade, tmp_path):
    check_train_log(trained_ade, 'decode.', 'mIoU', ADE_ITERS)
    test_work = tmp_path / 'test'
    run_tool(['tools/test.py', MINI_ADE, trained_ade / f'iter_{ADE_ITERS}.pth',
              '--work-dir', test_work, '--core-budgets', '8',
              '--cfg-options', f'test_dataloader.dataset.data_root={mini_ade}'])
    metrics = json_rows(test_work, ('*', '*.json'))[-1]
    assert set(metrics) >= {'aAcc', 'mIoU', 'mAcc'}
    # it learnt, and keeps it at 8 cores: the most frequent training class
    # everywhere scores about 4.6 mIoU on these validation images; the
    # margin comes from the spread over seeds and CPU kernels (docs/testing.md)
    trivial = trivial_miou(mini_ade)
    check_learnt('mask2former[mini-ade20k]@C8', [
        ('mIoU', metrics['mIoU'], trivial, trivial + MIOU_MARGIN, True)])
    dumped = Config.fromfile(next(test_work.glob('*.py')))
    assert dumped.model.backbone.core_budgets == 8


# --------------------------------------------------------------------------
# (5) budget_sweep.py on a Mask2Former checkpoint: PQ per budget
def test_budget_sweep_panoptic_checkpoint(trained_pan, mini_pan, tmp_path):
    sweep = load_tool('tools/analysis_tools/budget_sweep.py')
    rows = sweep.main([str(MINI_PAN), str(trained_pan / f'iter_{ITERS}.pth'),
                       '--budgets', '8', '16', '--repeats', '1',
                       '--work-dir', str(tmp_path), '--cfg-options'] +
                      pan_opts(mini_pan, splits=('test', )))
    assert [r['budgets'] for r in rows] == [[8], [16]]
    for r in rows:
        assert 0 <= r['coco_panoptic/PQ'] <= 100
        assert r['model_ms'] > r['backbone_ms'] > 0
    saved = json.load(open(tmp_path / 'budget_sweep.json'))
    assert saved['metric'] == 'coco_panoptic/PQ'
    assert (tmp_path / 'budget_sweep.png').is_file()


# --------------------------------------------------------------------------
# (6) configs: consistent, and the headline ones run the real VECA-B
@pytest.mark.parametrize('path', M2F_CONFIGS, ids=lambda p: p.name)
def test_mask2former_configs_consistent(path):
    from veca_mm.models.backbones.veca import resolve_arch
    cfg = Config.fromfile(path)
    imports = cfg.custom_imports['imports']
    assert 'veca_mm' in imports
    arch = resolve_arch(cfg.model.backbone.arch)
    assert cfg.model.backbone.type == 'VECA'
    assert cfg.model.neck.type == 'SimplePyramidNeck'
    assert cfg.model.neck.in_channels == arch['embed_dims']
    assert cfg.model.neck.scale_factors == (4.0, 2.0, 1.0, 0.5)
    assert cfg.optim_wrapper.constructor == \
        'VECALayerDecayOptimizerConstructor'
    assert cfg.optim_wrapper.paramwise_cfg.num_layers == arch['num_layers']
    if cfg.default_scope == 'mmseg':
        assert 'mmdet.models' in imports  # mmseg's head is mmdet's
        head = cfg.model.decode_head
        n_cls = head.num_classes
        assert max(cfg.model.backbone.out_indices) < arch['num_layers']
        assert cfg.val_evaluator.type == 'IoUMetric'
    else:
        head = cfg.model.panoptic_head
        n_cls = head.num_things_classes + head.num_stuff_classes
        fusion = cfg.model.panoptic_fusion_head
        assert (fusion.num_things_classes, fusion.num_stuff_classes) == (
            head.num_things_classes, head.num_stuff_classes)
        assert [e.type for e in cfg.val_evaluator] == [
            'CocoPanopticMetric', 'CocoMetric']
        meta = cfg.train_dataloader.dataset.get('metainfo')
        if meta is not None:  # the mini config: the generator's classes
            gen = load_tool(GEN)
            assert meta.classes == gen.CLASSES
            assert meta.thing_classes == gen.THING_CLASSES
            assert len(meta.thing_classes) == head.num_things_classes
    assert head.type == 'Mask2FormerHead'
    assert head.in_channels == [cfg.model.neck.out_channels] * 4
    assert head.strides == [4, 8, 16, 32]
    assert len(head.loss_cls.class_weight) == n_cls + 1


def test_panoptic_path_check_names_the_generator(tmp_path):
    from veca_mm.datasets import DatasetPathError, check_dataset_paths
    cfg = mini_pan_cfg(tmp_path / 'nowhere')
    with pytest.raises(DatasetPathError) as err:
        check_dataset_paths(cfg)
    msg = str(err.value)
    assert 'CocoPanopticDataset data_root' in msg
    assert 'docs/datasets.md#coco-panoptic' in msg
    assert 'make_mini_coco_panoptic.py OUT_DIR' in msg


def _headline_vecab(path, scope):
    """The VECA-B headline config at ``path`` and its model, built in
    ``scope`` (``'mmseg'`` / ``'mmdet'``) without the checkpoint, eval
    mode."""
    import importlib
    cfg = Config.fromfile(path)
    assert cfg.model.backbone.arch == 'base'
    cfg.model.backbone.init_cfg = None
    init_default_scope(scope)
    registry = importlib.import_module(f'{scope}.registry').MODELS
    return cfg, registry.build(cfg.model).eval()


def _random_test_step(model, size, sample_type, **meta):
    """``model.test_step`` on one random uint8 ``size`` x ``size`` image;
    returns its output and the shapes of the neck's output maps."""
    shapes = []
    model.neck.register_forward_hook(
        lambda m, i, o: shapes.extend(tuple(x.shape) for x in o))
    meta.update(img_shape=(size, size), ori_shape=(size, size))
    data = dict(inputs=[torch.randint(0, 256, (3, size, size),
                                      dtype=torch.uint8)],
                data_samples=[sample_type(metainfo=meta)])
    with torch.inference_mode():
        return model.test_step(data)[0], shapes


def test_headline_ade_vecab_forward_512():
    """VECA-B Mask2Former (150 classes) at its 512x512 crop."""
    from mmseg.structures import SegDataSample
    cfg, model = _headline_vecab(HEAD_ADE, 'mmseg')
    assert cfg.crop_size == (512, 512)
    assert sum(p.numel() for p in model.backbone.parameters()) > 80e6
    out, shapes = _random_test_step(model, 512, SegDataSample,
                                    pad_shape=(512, 512))
    assert shapes == [(1, 256, 512 // s, 512 // s) for s in (4, 8, 16, 32)]
    assert out.seg_logits.data.shape == (150, 512, 512)
    assert torch.isfinite(out.seg_logits.data).all()
    assert out.pred_sem_seg.data.shape == (1, 512, 512)


def test_headline_panoptic_vecab_forward_1024():
    """VECA-B Mask2Former (133 classes) on one 1024x1024 LSJ-size image,
    panoptic and instance outputs."""
    from mmdet.structures import DetDataSample
    cfg, model = _headline_vecab(HEAD_PAN, 'mmdet')
    assert cfg.image_size == (1024, 1024)
    out, shapes = _random_test_step(model, 1024, DetDataSample,
                                    scale_factor=(1.0, 1.0))
    assert shapes == [(1, 256, 1024 // s, 1024 // s) for s in (4, 8, 16, 32)]
    pan = out.pred_panoptic_seg.sem_seg
    assert pan.shape == (1, 1024, 1024)
    labels = pan % 1000  # mmdet's INSTANCE_OFFSET
    assert int(labels.max()) <= 133  # 133 = void
    inst = out.pred_instances
    assert inst.masks.shape[1:] == (1024, 1024)
    # the top-scoring (query, class) pairs, thing classes (< 80) only
    assert len(inst.scores) <= cfg.model.test_cfg.max_per_image
    assert int(inst.labels.max()) < 80
    assert torch.isfinite(inst.scores).all()
