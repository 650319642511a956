"""Predictions aligned with the input whatever its size (issue 30).

VECA sees whole patches only. An image whose sides are not multiples of the
patch size must be padded; if the backbone pads it, the segmentor never
learns of it and resizes the padded image's logits onto the unpadded one
(squashed, off by up to ``patch_size - 1`` pixels at the bottom/right). The
shipped configs pad in the data preprocessor instead (``test_cfg=dict(
size_divisor=P)``), which mmseg crops back before resizing to the original
shape. These tests hold every dense path to that:

- property: the prediction for an H x W image equals the network's output
  on the same image padded to a multiple of P, cropped back to H x W
  (logits <= 1e-5), for UPerNet, the linear probes, the depth FPN and
  Mask2Former, through mmseg's inference API;
- boundary: a model whose prediction is a known function of the image
  (white patch: class 0 / far; black: class 1 / near; hand-set weights in
  the real backbone and heads) puts a known boundary within one pixel,
  for segmentation through ``tools/test.py`` and for depth;
- a stock mmseg config that composes ``type='VECA'`` without the divisor is
  told so.
"""
import copy
import glob
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from mmengine.config import Config
from mmengine.registry import init_default_scope

import veca_mm  # noqa: F401
from .conftest import REPO
from .tool_runs import run_tool

P = 8  # the mini configs' patch size


def config_path(name):
    """A shipped config by file name, wherever its folder is."""
    found = sorted(glob.glob(str(REPO / 'configs' / '**' / name),
                             recursive=True))
    assert found, f'no config named {name} under configs/'
    return found[0]


SEG_UPERNET = 'upernet_veca-t_1xb4-600_mini-ade20k-96x96.py'
SEG_LINEAR = 'linear_veca-t_1xb4-40_mini-ade20k-64x64.py'
SEG_M2F = 'mask2former_veca-t_1xb4-200_mini-ade20k-96x96.py'
DEPTH_FPN = 'depth-fpn_veca-t_1xb2-20_mini-nyu-64x64.py'
DEPTH_LINEAR = 'linear_veca-t_1xb2-40_mini-nyu-64x64.py'
CONFIGS = (SEG_UPERNET, SEG_LINEAR, SEG_M2F, DEPTH_FPN, DEPTH_LINEAR)
DEPTH = (DEPTH_FPN, DEPTH_LINEAR)
_MODELS = {}


def build(name):
    """The config's model in eval mode, seeded weights, its ``cfg`` set
    with a test pipeline that keeps the image size (no Resize)."""
    if name not in _MODELS:
        from mmseg.apis import init_model
        cfg = Config.fromfile(config_path(name))
        cfg.model.backbone.init_cfg = None
        cfg.test_pipeline = [dict(type='LoadImageFromNDArray'),
                             dict(type='PackSegInputs')]
        torch.manual_seed(0)
        init_default_scope('mmseg')
        model = init_model(cfg, device='cpu')
        for m in model.modules():  # non-trivial BatchNorm statistics
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
        _MODELS[name] = model.eval()
    return _MODELS[name]


def infer(model, img):
    from mmseg.apis import inference_model
    cfg = model.cfg
    saved = copy.deepcopy(cfg.test_pipeline)
    try:
        return inference_model(model, img)
    finally:
        cfg.test_pipeline = saved


def padded_then_cropped(model, img):
    """The network on the image padded (bottom/right, zeros after
    normalisation) to the multiple the config's preprocessor pads to (a
    multiple of P; the cores attend to every token, padding included, so
    the amount matters), resized to the padded size as the heads do,
    cropped back."""
    pre = model.data_preprocessor
    div = pre.test_cfg['size_divisor']
    assert div % P == 0, div
    x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None]
    x = x[:, [2, 1, 0]].float() if pre.channel_conversion else x.float()
    x = (x - pre.mean) / pre.std
    h, w = img.shape[:2]
    x = F.pad(x, (0, -w % div, 0, -h % div))
    meta = dict(img_shape=tuple(x.shape[2:]), pad_shape=tuple(x.shape[2:]))
    with torch.no_grad():
        out = model.encode_decode(x, [meta])
    return out[0, :, :h, :w]


@pytest.mark.parametrize('name', CONFIGS)
@settings(max_examples=4, deadline=None, derandomize=True, database=None,
          phases=(Phase.explicit, Phase.generate),  # shrinking: minutes
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(h=st.integers(17, 60), w=st.integers(17, 60), seed=st.integers(0, 9))
def test_prediction_equals_padded_then_cropped(name, h, w, seed):
    if h % P == 0 and w % P == 0:
        w += 3  # the property is about sizes that are not multiples
    img = np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8)
    model = build(name)
    sample = infer(model, img)
    got = (sample.pred_depth_map if name in DEPTH else
           sample.seg_logits).data
    want = padded_then_cropped(model, img)
    assert got.shape == want.shape == (want.shape[0], h, w)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


# ----------------------------------------------------------------- boundary
def sign_model(name):
    """The config's real model with hand-set weights whose prediction is a
    known function of the image: the patch embedding writes the patch's
    mean normalised intensity ``a`` into feature 0 and ``-a`` into feature
    1, every block's residual branches are zero (identity), the final
    LayerNorm turns ``(a, -a, 0, ...)`` into ``sign(a)`` times a constant,
    and the linear head maps feature 0 to class 0 (+) / class 1 (-), or
    the depth probe to its last (+) / first (-) bin."""
    model = copy.deepcopy(build(name))
    bb, head = model.backbone, model.decode_head
    with torch.no_grad():
        for n, p in bb.named_parameters():
            if any(k in n for k in ('out_proj', 'fc2', 'patch_embed')):
                p.zero_()
        w = bb.patch_embed.proj.weight
        w[0] = 1.0 / w[0].numel()
        w[1] = -1.0 / w[1].numel()
        head.bn.reset_running_stats()
        head.bn.weight.fill_(1)
        head.bn.bias.zero_()
        head.conv_seg.weight.zero_()
        head.conv_seg.bias.fill_(-100.0 if name not in DEPTH else 0.0)
        scale = 1.0 if name not in DEPTH else 100.0
        first, last = (0, 1) if name not in DEPTH else (-1, 0)
        head.conv_seg.weight[first, 0] = scale
        head.conv_seg.weight[last, 0] = -scale
        head.conv_seg.bias[[first, last]] = 0.0
    return model.eval()


def boundary_images(h=57, w=71, row=48, col=64):
    """White above ``row`` / left of ``col``, black elsewhere: boundaries
    on patch edges, the image not a multiple of P in either side."""
    a = np.zeros((h, w, 3), np.uint8)
    a[:row] = 255
    b = np.zeros((h, w, 3), np.uint8)
    b[:, :col] = 255
    return a, b


def first_change(prof, white_first=True):
    """Index of the first entry no longer on the white side."""
    flips = np.nonzero(np.diff(prof.astype(np.int64)))[0]
    return int(flips[0]) + 1 if len(flips) else None


@pytest.mark.parametrize('name', [SEG_LINEAR, DEPTH_LINEAR])
def test_known_boundary_within_one_pixel(name):
    a, b = boundary_images()
    model = sign_model(name)
    for img, axis, where in ((a, 0, 48), (b, 1, 64)):
        s = infer(model, img)
        if name in DEPTH:
            d = s.pred_depth_map.data[0].numpy()
            mid = 0.5 * (model.decode_head.min_depth +
                         model.decode_head.max_depth)
            pred = d > mid  # far where white
            assert pred.mean() > 0.5 if axis == 1 else True
        else:
            pred = s.pred_sem_seg.data[0].numpy() == 0  # class 0 where white
        assert pred.shape == img.shape[:2]
        lines = pred if axis == 1 else pred.T
        found = [first_change(line) for line in lines]
        assert all(f is not None and abs(f - where) <= 1
                   for f in found), (name, axis, sorted(set(found)))


def test_known_boundary_through_tools_test(tmp_path):
    """The same through ``tools/test.py``: an ADE20K-layout set of the two
    boundary images (PNG, so no JPEG ringing), the hand-set linear probe
    saved as a checkpoint, the predicted label PNGs read back."""
    from mmengine.runner import save_checkpoint
    root = tmp_path / 'ADEChallengeData2016'
    for sub in ('images/validation', 'annotations/validation'):
        (root / sub).mkdir(parents=True)
    for i, img in enumerate(boundary_images()):
        cv2.imwrite(str(root / f'images/validation/b{i}.png'), img)
        label = np.where(img[..., 0] > 0, 1, 2).astype(np.uint8)
        cv2.imwrite(str(root / f'annotations/validation/b{i}.png'), label)
    ckpt = tmp_path / 'sign.pth'
    save_checkpoint(dict(state_dict=sign_model(SEG_LINEAR).state_dict(),
                         meta=dict()), str(ckpt))
    out = tmp_path / 'pred'
    cfg = tmp_path / 'sign_probe.py'  # the shipped config, image size kept
    cfg.write_text(
        f"_base_ = [{config_path(SEG_LINEAR)!r}]\n"
        "test_dataloader = dict(num_workers=0, persistent_workers=False,\n"
        f"    dataset=dict(data_root={str(root)!r}, img_suffix='.png',\n"
        "        pipeline=[dict(type='LoadImageFromFile'),\n"
        "                  dict(type='LoadAnnotations', reduce_zero_label=True),\n"
        "                  dict(type='PackSegInputs')]))\n")
    log = run_tool(['tools/test.py', cfg, ckpt, '--work-dir',
                    tmp_path / 'work', '--out', out])
    assert 'aAcc' in log
    for i, (axis, where) in enumerate(((0, 48), (1, 64))):
        pred = cv2.imread(str(out / f'b{i}.png'), cv2.IMREAD_UNCHANGED)
        assert pred.shape == (57, 71), pred.shape
        white = pred == pred[0, 0]
        lines = white if axis == 1 else white.T
        found = {first_change(line) for line in lines}
        assert all(f is not None and abs(f - where) <= 1 for f in found), (
            i, sorted(found, key=str))


def test_stock_config_without_divisor_is_told(recwarn):
    """A user's stock mmseg config with ``type='VECA'`` and no test-time
    size divisor: inference on an odd-sized image warns, naming the fix."""
    cfg = Config.fromfile(config_path(SEG_LINEAR))
    cfg.model.data_preprocessor.pop('test_cfg', None)
    cfg.model.backbone.init_cfg = None
    cfg.test_pipeline = [dict(type='LoadImageFromNDArray'),
                         dict(type='PackSegInputs')]
    from mmseg.apis import init_model
    init_default_scope('mmseg')
    model = init_model(cfg, device='cpu').eval()
    infer(model, np.zeros((45, 70, 3), np.uint8))
    msgs = [str(w.message) for w in recwarn]
    assert any('size_divisor' in m for m in msgs), msgs
