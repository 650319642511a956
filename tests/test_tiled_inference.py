"""Tiled-head whole inference (``TiledHeadEncoderDecoder`` /
``TiledHeadDepthEstimator``): the backbone on the whole image, neck + head
over tiles of its maps, equal to plain whole inference."""
import os

import pytest
import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import MODELS, init_default_scope

from veca_mm.models.segmentors.tiled_heads import TiledPyramid, tiled_head
from veca_mm.utils.mini_data import trivial_miou

from .conftest import REPO, TINY_ARCH
from .learning import SEED, check_learnt

C = 8
BN = dict(type='BN', requires_grad=True)
LEVELS = dict(in_channels=[C] * 4, in_index=[0, 1, 2, 3])
HEADS = {
    'uper': dict(type='UPerHead', pool_scales=(1, 2, 3, 6), **LEVELS),
    'uper-align-corners': dict(type='UPerHead', pool_scales=(1, 2),
                               align_corners=True, **LEVELS),
    'segformer': dict(type='SegformerHead', **LEVELS),
    'fcn-dilated': dict(type='FCNHead', in_channels=C, in_index=2,
                        num_convs=2, dilation=2, concat_input=True),
    'fcn-resize-concat': dict(type='FCNHead', in_channels=[C] * 4,
                              in_index=[0, 1, 2, 3], num_convs=1,
                              input_transform='resize_concat',
                              concat_input=False),
    'fpn': dict(type='FPNHead', feature_strides=[4, 8, 16, 32], **LEVELS),
    'aspp': dict(type='ASPPHead', in_channels=C, in_index=3,
                 dilations=(1, 2, 3)),
    'depth': dict(type='VECADepthHead', in_channels=[C] * 4, max_depth=10.),
}


def build(head: dict, test_cfg=None, scales=(4.0, 2.0, 1.0, 0.5), seed=0):
    """A tiny VECA + pyramid + ``head`` with random weights and random BN
    statistics (so that a misplaced pixel changes the output)."""
    init_default_scope('mmseg')
    head = dict(head, channels=C)
    depth = head['type'] == 'VECADepthHead'
    if not depth:
        head.update(num_classes=5, norm_cfg=BN)
    torch.manual_seed(seed)
    model = MODELS.build(dict(
        type='TiledHeadDepthEstimator' if depth else 'TiledHeadEncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[0.] * 3,
                               std=[1.] * 3, test_cfg=dict(size_divisor=8)),
        backbone=dict(type='VECA', arch=TINY_ARCH, patch_size=8,
                      out_indices=(0, 1, 2, 3), core_budgets=16),
        neck=dict(type='SimplePyramidNeck', in_channels=32, out_channels=C,
                  scale_factors=scales, norm_cfg=BN),
        decode_head=head,
        test_cfg=ConfigDict(test_cfg or dict(mode='whole')))).eval()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model


def feats_and_plain(model, hw):
    x = torch.randn(1, 3, *hw, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        feats = model.backbone(x)
        return x, feats, model.decode_head.forward(model.neck(feats))


@pytest.mark.parametrize('name', sorted(HEADS))
def test_tiled_equals_plain_whole(name):
    """Logits equal (<= 1e-4) on a map of odd size (21 x 29 cells: the
    stride-32 level is floor-sized, the levels' ratio is not 2) that the
    tiles do not divide; a halo of one cell breaks it, so the tiles and
    their halo are really in play."""
    model = build(HEADS[name])
    hw = (8 * 21, 8 * 29)
    x, feats, plain = feats_and_plain(model, hw)
    with torch.no_grad():
        tiled = model.tiled_neck_head(feats, hw, (96, 128))
        short = model.tiled_neck_head(feats, hw, (96, 128), (8, 8),
                                      check_halo=False)
    assert tiled.shape == plain.shape
    assert (tiled - plain).abs().max() <= 1e-4
    assert (short - plain).abs().max() > 1e-2
    # the same through inference() (what tools/test.py runs): logits at
    # the image size
    metas = [dict(ori_shape=hw, img_shape=hw, pad_shape=hw,
                  padding_size=[0, 0, 0, 0])]
    with torch.no_grad():
        ref = model.inference(x, metas)
        model.test_cfg = ConfigDict(mode='whole', head_tile=(96, 128))
        out = model.inference(x, metas)
    assert out.shape[-2:] == hw
    assert (out - ref).abs().max() <= 1e-4


def test_stride_64_level_and_single_map():
    """A 0.25 level (stride 64, crops aligned to 4 cells) from one backbone
    map (ViTDet style, out_indices=-1 gives one map for every level)."""
    model = build(dict(type='UPerHead', pool_scales=(1, 3),
                       in_channels=[C] * 5, in_index=[0, 1, 2, 3, 4]),
                  scales=(4.0, 2.0, 1.0, 0.5, 0.25))
    hw = (8 * 29, 8 * 43)
    with torch.no_grad():
        feats = model.backbone(torch.randn(1, 3, *hw))[-1:]
        plain = model.decode_head.forward(model.neck(feats))
        tiled = model.tiled_neck_head(feats, hw, (128, 128))
    assert (tiled - plain).abs().max() <= 1e-4


def test_memory_bounded_by_the_tile():
    """The largest map the neck and head make is set by the tile, not the
    image: at 4x the area, plain whole's grows 4x, tiled's not at all
    (SegFormer head: 6-cell halo, 8-cell tiles; both sizes have interior
    tiles with whole 20-cell crops)."""
    model = build(HEADS['segformer'])
    sizes = {}
    for hw in [(8 * 24, 8 * 24), (8 * 48, 8 * 48)]:
        _, feats, _ = feats_and_plain(model, hw)
        for mode, tile in (('plain', None), ('tiled', (64, 64))):
            seen = [0]

            def hook(mod, args, out):
                seen[0] = max(seen[0], out.numel())
            handles = [m.register_forward_hook(hook)
                       for m in list(model.neck.modules()) +
                       list(model.decode_head.modules())
                       if not list(m.children())]
            with torch.no_grad():
                if tile:
                    model.tiled_neck_head(feats, hw, tile)
                else:
                    model.decode_head.forward(model.neck(feats))
            for h in handles:
                h.remove()
            sizes[mode, hw[0]] = seen[0]
    assert sizes['plain', 384] == 4 * sizes['plain', 192]
    assert sizes['tiled', 384] == sizes['tiled', 192]
    assert sizes['tiled', 384] * 4 < sizes['plain', 384]


@pytest.mark.parametrize('head', ['uper', 'depth'])
def test_test_step_pads_and_crops_like_plain(head):
    """Through the data preprocessor (test-time size_divisor pads an image
    that is not a multiple of the patch; mmseg crops it back): the
    predictions of tiled and plain whole agree and have the image's size."""
    from mmseg.structures import SegDataSample
    hw = (8 * 22 + 5, 8 * 33 + 3)
    img = torch.randint(0, 255, (3, *hw), dtype=torch.uint8,
                        generator=torch.Generator().manual_seed(2))
    meta = dict(ori_shape=hw, img_shape=hw)

    def predict(test_cfg):
        model = build(HEADS[head], test_cfg)
        data = dict(inputs=[img], data_samples=[SegDataSample(metainfo=meta)])
        with torch.no_grad():
            out = model.test_step(data)[0]
        return out.seg_logits.data if head == 'uper' else \
            out.pred_depth_map.data
    plain = predict(dict(mode='whole'))
    tiled = predict(dict(mode='whole', head_tile=64))
    assert plain.shape[-2:] == tiled.shape[-2:] == hw
    assert (tiled - plain).abs().max() <= 1e-4


@pytest.mark.parametrize('head, test_cfg, match', [
    (dict(type='PSPHead', in_channels=C, in_index=3),
     dict(mode='whole', head_tile=64), 'no crop version of PSPHead'),
    (HEADS['uper'], dict(mode='slide', crop_size=(64, 64), stride=(32, 32),
                         head_tile=64), "does not combine with mode='slide'"),
    (HEADS['uper'], dict(mode='whole', head_tile='big'),
     'head_tile must be an int'),
    (HEADS['uper'], dict(mode='whole', head_halo=8), 'head_tile is not'),
])
def test_bad_settings_fail_at_build(head, test_cfg, match):
    with pytest.raises(ValueError, match=match):
        build(head, test_cfg)


def test_too_small_halo_and_global_norm_are_errors():
    model = build(HEADS['uper'], dict(mode='whole', head_tile=64,
                                      head_halo=16))
    hw = (8 * 20, 8 * 20)
    metas = [dict(ori_shape=hw, img_shape=hw, pad_shape=hw)]
    with pytest.raises(ValueError, match='less than the reach'):
        model.inference(torch.zeros(1, 3, *hw), metas)
    gn = dict(HEADS['fcn-dilated'])
    model = build(gn, dict(mode='whole', head_tile=64))
    model.decode_head.convs[0].bn = torch.nn.GroupNorm(2, C)
    with pytest.raises(ValueError, match='GroupNorm'):
        model.inference(torch.zeros(1, 3, *hw), metas)


def test_mask2former_is_refused_with_the_reason():
    """Mask2Former's pixel decoder attends across the whole pyramid
    (docs/high_resolution.md): no crop version, a clear error."""
    from mmseg.models.decode_heads import Mask2FormerHead
    with pytest.raises(ValueError, match='no crop version'):
        tiled_head(Mask2FormerHead.__new__(Mask2FormerHead))
    with pytest.raises(ValueError, match='SimplePyramidNeck or no neck'):
        TiledPyramid(torch.nn.Identity())


@pytest.mark.parametrize('path', ['configs/veca_upernet_cityscapes.py',
                                  'configs/veca_upernet_4k-aerial.py'])
def test_high_resolution_configs_tile_the_head(path):
    """The shipped high-resolution configs select the tiled-head mode and
    build (on the meta device: VECA-B's weights are not needed)."""
    cfg = Config.fromfile(REPO / path)
    assert cfg.model.type == 'TiledHeadEncoderDecoder'
    assert cfg.model.test_cfg.mode == 'whole'
    assert cfg.model.test_cfg.head_tile >= 512
    cfg.model.backbone.init_cfg = None
    init_default_scope('mmseg')
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'TiledHeadEncoderDecoder'


MINI_CONTEXT = REPO / \
    'configs/mini/upernet_veca-t_1xb4-300_mini-context-64x128.py'
CONTEXT_MODES = dict(
    whole=dict(mode='whole'),
    tiled=dict(mode='whole', head_tile=64),
    slide=dict(mode='slide', crop_size=(64, 128), stride=(64, 64)))
# Bars from seeds 0-4 on the native, avx2 and default kernel paths and seed
# 0 on two threads (16 runs; docs/testing.md): whole mIoU 78.3-91.6 against
# the trivial predictor's ~17.4; whole - slide 2.5-19.8 (2.5 at seed 3 on
# the default path, 6.1 and 6.5 at seeds 3 and 4 on avx2, 9.1-19.8
# otherwise).
CONTEXT_MARGIN = 1.0
CONTEXT_LEARNT = 30.0  # whole mIoU above the trivial predictor's


def context_study(work, seed: int) -> dict:
    """Generate the mini context set, train the config's tiny VECA on its
    64x128 images through mmengine's Runner, evaluate the 64x256
    validation images whole, tiled-head whole and slide (64x128 windows):
    mIoU and seconds per mode."""
    import time

    from mmengine.runner import Runner

    from .conftest import load_tool
    make = load_tool('tools/dataset_converters/make_mini_context.py')
    root = make.make_mini_context(str(work / 'data'), num_train=48,
                                  num_val=6, seed=seed, verbose=False)
    cfg = Config.fromfile(MINI_CONTEXT)
    cfg.work_dir = str(work / 'run')
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = root
    cfg.train_cfg.val_interval = cfg.train_cfg.max_iters + 1  # no val
    cfg.default_hooks.logger.interval = 100
    cfg.randomness = dict(seed=seed)
    # trained in this process: the thread count the tools' subprocesses
    # use (tests/tool_runs.py), so the numbers do not depend on how pytest
    # runs (one worker per core, or alone)
    threads = torch.get_num_threads()
    torch.set_num_threads(int(os.environ.get('VECA_TEST_THREADS', '1')))
    try:
        runner = Runner.from_cfg(cfg)
        runner.train()
        out = {}
        for mode, test_cfg in CONTEXT_MODES.items():
            runner.model.test_cfg = ConfigDict(test_cfg)
            t0 = time.perf_counter()
            out[mode] = (runner.test()['mIoU'], time.perf_counter() - t0)
    finally:
        torch.set_num_threads(threads)
    out['trivial'] = (trivial_miou(root), 0.0)
    return out


@pytest.mark.learns
@pytest.mark.parametrize('seed', [int(s) for s in os.environ.get(
    'VECA_CONTEXT_SEEDS', str(SEED)).split(',')])
def test_context_whole_beats_slide(tmp_path, seed):
    """Where an object's class is decided by a cue the image's width away,
    the model trained on 64x128 images keeps it when the backbone sees the
    whole 64x256 image (whole = tiled-head whole) and loses it in slide
    windows. ``VECA_CONTEXT_SEEDS=0,1,2,3,4 pytest -k context -s`` prints
    the numbers of docs/high_resolution.md."""
    res = context_study(tmp_path, seed)
    print(f'\ncontext seed {seed}: ' + ', '.join(
        f'{m} {v[0]:.2f} mIoU {v[1]:.1f} s' for m, v in res.items()))
    assert abs(res['whole'][0] - res['tiled'][0]) <= 0.05
    whole, slide, trivial = (res[m][0] for m in ('whole', 'slide', 'trivial'))
    check_learnt('context', [
        ('mIoU@whole', whole, trivial, trivial + CONTEXT_LEARNT, True),
        ('whole - slide', whole - slide, 0.0, CONTEXT_MARGIN, True)])
