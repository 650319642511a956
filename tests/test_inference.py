"""Inference as users run it, on a real photograph (scikit-image's public
domain ``chelsea``, 300 x 451): mmseg's ``init_model``/``inference_model``
and ``MMSegInferencer``, mmdet's ``DetInferencer``, ``tools/image_demo.py``
for the three task kinds, and ``tools/test.py --dtype bf16 / --compile``
with the mini configs and checkpoints the tests make."""
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.config import Config

from veca_mm.models.layers.linear import Linear

from .conftest import REPO, load_tool

CONFIGS = dict(
    seg=REPO / 'configs/mini/upernet_veca-t_1xb4-600_mini-ade20k-96x96.py',
    depth=REPO / 'configs/mini/depth-fpn_veca-t_1xb2-20_mini-nyu-64x64.py',
    det=REPO / 'configs/mini/mask-rcnn_veca-t_1xb2-20_mini-coco-128x128.py')


@pytest.fixture(scope='module')
def photo(tmp_path_factory):
    """A real photograph on disk (BGR, as cv2/mmcv write it)."""
    data = pytest.importorskip('skimage.data')
    import mmcv
    rgb = data.chelsea()
    folder = tmp_path_factory.mktemp('photos')
    path = folder / 'chelsea.jpg'
    assert mmcv.imwrite(rgb[..., ::-1], str(path))
    return path, rgb.shape[:2]


def make_checkpoint(task, path):
    """The config's model, seeded, saved with mmengine's save_checkpoint and
    the dataset meta a training run records (mmseg datasets complete their
    palette when built)."""
    from mmengine.registry import init_default_scope
    from mmengine.runner.checkpoint import save_checkpoint
    cfg = Config.fromfile(CONFIGS[task])
    if task == 'det':
        from mmdet.registry import MODELS
        init_default_scope('mmdet')
        meta = dict(cfg.metainfo)
    else:
        from mmseg.registry import DATASETS, MODELS
        init_default_scope('mmseg')
        meta = dict(DATASETS.build(dict(
            type=cfg.train_dataloader.dataset.type, data_root=str(path.parent),
            lazy_init=True, pipeline=[])).metainfo)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    save_checkpoint(dict(state_dict=model.state_dict(),
                         meta=dict(dataset_meta=meta)), str(path))
    return str(path)


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp('ckpts')
    return {t: make_checkpoint(t, root / f'{t}.pth') for t in CONFIGS}


def read(path, flags='unchanged'):
    import mmcv
    img = mmcv.imread(str(path), flag=flags)
    assert img is not None, path
    return img


def test_segmentation_apis_and_demo(photo, checkpoints, tmp_path):
    from mmseg.apis import inference_model, init_model
    path, hw = photo
    model = init_model(str(CONFIGS['seg']), checkpoints['seg'], device='cpu')
    sample = inference_model(model, str(path))
    assert tuple(sample.pred_sem_seg.shape) == hw
    assert tuple(sample.seg_logits.shape[-2:]) == hw

    demo = load_tool('tools/image_demo.py')
    out = tmp_path / 'out'
    demo.main([str(path.parent), str(CONFIGS['seg']), checkpoints['seg'],
               '--out-dir', str(out), '--core-budgets', '16', '--opacity',
               '0.6'])
    vis, pred = read(out / 'vis' / 'chelsea.jpg'), read(out / 'pred' /
                                                        'chelsea.png')
    assert vis.shape == hw + (3, ) and pred.shape == hw
    assert pred.dtype == np.uint8 and pred.max() < 150
    # the overlay is the photo blended with the class colours
    assert 0 < np.abs(vis.astype(int) - read(path).astype(int)).mean() < 200


def test_depth_inferencer_and_demo(photo, checkpoints, tmp_path):
    path, hw = photo
    demo = load_tool('tools/image_demo.py')
    cfg = demo.load_cfg(str(CONFIGS['depth']), [8])
    inferencer = demo.build_inferencer(cfg, checkpoints['depth'], 'cpu')
    assert type(inferencer).__name__ == 'MMSegInferencer'
    assert inferencer.model.backbone.core_budgets == (8, )
    depth = inferencer(str(path), return_datasamples=True
                       ).pred_depth_map.data[0].numpy()
    assert depth.shape == hw and (depth > 0).all()

    out = tmp_path / 'out'
    demo.main([str(path), str(CONFIGS['depth']), checkpoints['depth'],
               '--out-dir', str(out), '--core-budgets', '8'])
    png = read(out / 'pred' / 'chelsea.png')
    assert png.dtype == np.uint16 and png.shape == hw
    # millimetres: the NYU config's depth_rescale_factor is 1e-3
    np.testing.assert_allclose(png / 1000., depth, atol=6e-4)
    vis = read(out / 'vis' / 'chelsea.jpg')
    assert vis.shape == (2 * hw[0], hw[1], 3)  # the photo above its depth


def test_detection_inferencer_and_demo(photo, checkpoints, tmp_path):
    from mmdet.apis import DetInferencer
    path, hw = photo
    inferencer = DetInferencer(model=str(CONFIGS['det']),
                               weights=checkpoints['det'], device='cpu',
                               show_progress=False)
    inst = inferencer(str(path), return_datasamples=True
                      )['predictions'][0].pred_instances
    assert tuple(inst.masks.shape[1:]) == hw
    assert len(inst) > 0  # a seeded random model still proposes boxes

    demo = load_tool('tools/image_demo.py')
    out = tmp_path / 'out'
    demo.main([str(path), str(CONFIGS['det']), checkpoints['det'],
               '--out-dir', str(out), '--score-thr', '0.0'])
    assert read(out / 'vis' / 'chelsea.jpg').shape == hw + (3, )
    pred = json.loads((out / 'preds' / 'chelsea.json').read_text())
    assert len(pred['bboxes']) == len(pred['scores']) == len(inst)
    assert all(m['size'] == list(hw) for m in pred['masks'])


def test_demo_rejects_bad_input(tmp_path, checkpoints):
    demo = load_tool('tools/image_demo.py')
    with pytest.raises(SystemExit, match='no image'):
        demo.main([str(tmp_path), str(CONFIGS['seg']), checkpoints['seg']])
    with pytest.raises(SystemExit):
        demo.parse_args(['x', 'c', 'k', '--opacity', '2'])


def test_test_tool_bf16_and_compile(photo, checkpoints):
    """``tools/test.py --dtype bf16`` turns on mmengine's TestLoop autocast;
    under that autocast the segmentor's logits stay within 2e-2 (relative
    L2) of fp32, and ``--compile``'s compiled backbone (here with dynamo's
    eager backend, the inductor parity is in test_export.py) predicts the
    same as eager."""
    from mmengine.runner.amp import autocast
    from mmseg.apis import inference_model, init_model
    test_tool = load_tool('tools/test.py')
    args = test_tool.parse_args([str(CONFIGS['seg']), checkpoints['seg'],
                                 '--dtype', 'bf16', '--compile'])
    cfg = test_tool.build_cfg(args)
    assert cfg.test_cfg.fp16 is True and args.compile
    fp32 = test_tool.build_cfg(test_tool.parse_args(
        [str(CONFIGS['seg']), checkpoints['seg']]))
    assert not fp32.test_cfg.get('fp16', False)

    path, hw = photo
    model = init_model(str(CONFIGS['seg']), checkpoints['seg'], device='cpu')
    ref = inference_model(model, str(path)).seg_logits.data
    with autocast(enabled=cfg.test_cfg.fp16):  # what TestLoop runs under
        low = inference_model(model, str(path)).seg_logits.data.float()
    assert float((low - ref).norm() / ref.norm()) <= 2e-2

    # the test epoch casts VECA's linear weights once (CastWeightsHook):
    # the same bf16 logits, and nothing cast once the epoch is over
    hook_cfg, = [h for h in cfg.custom_hooks
                 if h['type'] == 'CastWeightsHook']
    assert 'CastWeightsHook' not in str(fp32.get('custom_hooks', []))
    from mmengine.registry import HOOKS
    hook = HOOKS.build(hook_cfg)
    runner = SimpleNamespace(model=model)
    linears = [m for m in model.backbone.blocks.modules()
               if isinstance(m, Linear)]
    hook.before_test_epoch(runner)
    assert all(m.cast is not None for m in linears)
    with autocast(enabled=True):
        cast = inference_model(model, str(path)).seg_logits.data.float()
    hook.after_test_epoch(runner)
    assert all(m.cast is None for m in linears)
    torch.testing.assert_close(cast, low, atol=0, rtol=0)

    torch.compiler.reset()
    test_tool.compile_backbone(model, dict(backend='eager'))
    compiled = inference_model(model, str(path)).seg_logits.data
    torch.testing.assert_close(compiled, ref, atol=1e-5, rtol=1e-4)
    torch.compiler.reset()
