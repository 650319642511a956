"""Predictions aligned with the input whatever its size, mmdet paths
(issue 30; the mmseg paths are in ``test_alignment.py``).

mmdet's ``DetDataPreprocessor`` pads the batch at the bottom/right to
``pad_size_divisor`` and every detector works in the padded frame, whose
top-left pixel is the image's: boxes and instance masks keep the image's
frame even if the backbone pads again (its grid keeps stride and origin;
the values change, since the cores attend to the padding too). Mask2Former
is the exception: its head upsamples the mask logits to the preprocessor's
``batch_input_shape`` and crops ``img_shape`` out of that, so a grid that the
backbone padded further would be squashed onto the image. The property for
both: the prediction on an H x W image equals the network's output on the
image padded by hand to a multiple of the patch size and of the
preprocessor's divisor (so the backbone never pads), cropped back to H x W.
"""
import copy
import math

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

MASK_RCNN = 'configs/mini/mask-rcnn_veca-t_1xb2-20_mini-coco-128x128.py'
M2F_PANOPTIC = ('configs/mini/'
                'mask2former_veca-t_1xb2-200_mini-coco-panoptic-128x128.py')
_MODELS = {}


def build(path):
    """The config's detector, seeded random weights, eval mode, a test
    pipeline that keeps the image size, every box kept (score_thr 0) so
    that random weights still predict something to compare."""
    if path not in _MODELS:
        from mmdet.apis import init_detector
        cfg = Config.fromfile(str(REPO / path))
        cfg.model.backbone.init_cfg = None
        if 'rcnn' in cfg.model.test_cfg:
            cfg.model.test_cfg.rcnn.score_thr = 0.0
        cfg.test_dataloader.dataset.pipeline = [
            dict(type='LoadImageFromNDArray'),
            dict(type='Resize', scale_factor=1.0, keep_ratio=True),
            dict(type='PackDetInputs',
                 meta_keys=('img_id', 'ori_shape', 'img_shape',
                            'scale_factor'))]
        torch.manual_seed(0)
        init_default_scope('mmdet')
        _MODELS[path] = init_detector(cfg, device='cpu').eval()
    return _MODELS[path]


def by_hand(model, img):
    """The image normalised as the preprocessor does and padded with zeros
    (the preprocessor's pad value) to a multiple of both the patch size and
    the preprocessor's divisor, with the metas the detector reads."""
    pre = model.data_preprocessor
    div = math.lcm(model.backbone.patch_size, pre.pad_size_divisor)
    x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None]
    x = x[:, [2, 1, 0]].float() if pre._channel_conversion else x.float()
    x = (x - pre.mean) / pre.std
    h, w = img.shape[:2]
    x = F.pad(x, (0, -w % div, 0, -h % div), value=pre.pad_value)
    from mmdet.structures import DetDataSample
    sample = DetDataSample(metainfo=dict(
        img_shape=(h, w), ori_shape=(h, w), scale_factor=(1.0, 1.0),
        batch_input_shape=tuple(x.shape[2:]), pad_shape=tuple(x.shape[2:])))
    return x, [sample]


class BackboneInputs:
    """Records the sizes the backbone is called with."""

    def __init__(self, model):
        self.sizes = []
        self.handle = model.backbone.register_forward_pre_hook(
            lambda m, args: self.sizes.append(tuple(args[0].shape[-2:])))

    def __enter__(self):
        return self.sizes

    def __exit__(self, *exc):
        self.handle.remove()


SIZES = dict(h=st.integers(33, 90), w=st.integers(33, 90),
             seed=st.integers(0, 9))
FUZZ = settings(max_examples=3, deadline=None, derandomize=True,
                database=None, phases=(Phase.explicit, Phase.generate),
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def odd_image(h, w, seed):
    """A random image whose sides are not both multiples of 16."""
    if h % 16 == 0 and w % 16 == 0:
        w += 5
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8)


def run_checking_backbone_input(model, run):
    """``run()``'s result; the backbone must have seen only whole patches
    (the preprocessor padded, the backbone did not)."""
    with BackboneInputs(model) as sizes:
        out = run()
    P = model.backbone.patch_size
    assert all(s[0] % P == 0 and s[1] % P == 0 for s in sizes), sizes
    return out


@FUZZ
@given(**SIZES)
def test_mask_rcnn_prediction_equals_padded_then_cropped(h, w, seed):
    from mmdet.apis import inference_detector
    model, img = build(MASK_RCNN), odd_image(h, w, seed)
    h, w = img.shape[:2]
    got = run_checking_backbone_input(
        model, lambda: inference_detector(model, img).pred_instances)
    x, samples = by_hand(model, img)
    with torch.no_grad():
        want = model.predict(x, samples, rescale=True)[0].pred_instances
    assert len(got) == len(want) > 0
    torch.testing.assert_close(got.bboxes, want.bboxes, atol=1e-4,
                               rtol=1e-5)
    torch.testing.assert_close(got.scores, want.scores, atol=1e-5,
                               rtol=1e-5)
    assert got.masks.shape[-2:] == (h, w)
    assert torch.equal(got.masks, want.masks)
    # every box inside the image, in its frame
    assert float(got.bboxes[:, 2].max()) <= w
    assert float(got.bboxes[:, 3].max()) <= h


def mask_logits(model, run):
    """The mask classes and logits the panoptic fusion head is given,
    cropped to each image as it crops them."""
    seen = {}
    head = model.panoptic_fusion_head
    original = head.predict

    def spy(mask_cls, mask_pred, samples, **kwargs):
        h, w = samples[0].metainfo['img_shape'][:2]
        seen['cls'] = mask_cls[0].clone()
        seen['pred'] = mask_pred[0, :, :h, :w].clone()
        return original(mask_cls, mask_pred, samples, **kwargs)

    head.predict = spy
    try:
        run()
    finally:
        del head.predict
    return seen


@FUZZ
@given(**SIZES)
def test_mask2former_panoptic_equals_padded_then_cropped(h, w, seed):
    from mmdet.apis import inference_detector
    model, img = build(M2F_PANOPTIC), odd_image(h, w, seed)
    h, w = img.shape[:2]
    got = run_checking_backbone_input(
        model, lambda: mask_logits(model,
                                   lambda: inference_detector(model, img)))
    x, samples = by_hand(model, img)
    with torch.no_grad():
        want = mask_logits(model,
                           lambda: model.predict(x, samples, rescale=True))
    assert got['pred'].shape[-2:] == (h, w)
    torch.testing.assert_close(got['cls'], want['cls'], atol=1e-5,
                               rtol=1e-5)
    torch.testing.assert_close(got['pred'], want['pred'], atol=1e-5,
                               rtol=1e-5)


def test_mask2former_property_catches_backbone_padding():
    """The property is not vacuous: with the preprocessor's divisor cut to
    1 the backbone pads by itself and Mask2Former's logits are squashed."""
    model = copy.deepcopy(build(M2F_PANOPTIC))
    model.data_preprocessor.pad_size_divisor = 1
    from mmdet.apis import inference_detector
    img = np.random.default_rng(0).integers(0, 256, (41, 57, 3), np.uint8)
    with pytest.warns(UserWarning, match='size_divisor'):
        got = mask_logits(model, lambda: inference_detector(model, img))
    model.data_preprocessor.pad_size_divisor = 32
    x, samples = by_hand(model, img)
    with torch.no_grad():
        want = mask_logits(model,
                           lambda: model.predict(x, samples, rescale=True))
    assert (got['pred'] - want['pred']).abs().max() > 1e-2

