"""Every headline config of the README's table runs its real-width model
(VECA-S/-B/-L, the config's own neck and head) at its training crop size and
at its test size.

On torch's meta device: tensors carry shapes and dtypes but no data, so the
whole graph runs (every layer, every reshape, the pyramid levels, the head's
upsampling) without the memory or time of a real VECA-L at 2048x512. What
is checked is that nothing breaks and the output has the size the task
needs; numbers are checked elsewhere on real tensors (e.g. the 1024x1024
Mask R-CNN and the Cityscapes whole-image forward).

Detectors run backbone, pyramid and dense heads on meta; their RoI stages
use mmcv's compiled ops, which have no meta kernel (the 1024x1024 Mask R-CNN
test in test_detection.py runs them for real).
"""
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import veca_mm  # noqa: F401

from .conftest import REPO

# config -> (crop H x W, test H x W). Test sizes: ADE20K resizes into
# 2048x512 keeping the ratio (a 4:1 image is 512x2048), Cityscapes runs the
# whole 1024x2048 frame, NYUv2 frames are 480x640, KITTI raw frames 375x1242,
# COCO resizes the long side to 1024 (a 3:2 image is 683x1024, padded to the
# detector's size divisor).
SEG = {
    'veca_upernet_ade20k.py': ((512, 512), (512, 2048)),
    'veca/upernet_veca-b-c32_8xb2-160k_ade20k-512x512.py':
        ((512, 512), (512, 2048)),
    'veca/upernet_veca-s_8xb2-160k_ade20k-512x512.py':
        ((512, 512), (512, 2048)),
    'veca/upernet_veca-l_8xb2-160k_ade20k-512x512.py':
        ((512, 512), (512, 2048)),
    'veca_upernet_cityscapes.py': ((512, 1024), (1024, 2048)),
    'veca/upernet_veca-b-c16_8xb2-80k_cityscapes-512x1024.py':
        ((512, 1024), (1024, 2048)),
    'veca_depth-fpn_nyu.py': ((480, 480), (480, 640)),
    'veca_depth-fpn_kitti.py': ((352, 704), (375, 1242)),
}
DET = dict.fromkeys((
    'veca_mask-rcnn_coco.py',
    'veca/mask-rcnn_veca-s_8xb2-lsj-100e_coco.py',
    'veca/mask-rcnn_veca-l_8xb2-lsj-100e_coco.py',
    'veca/mask-rcnn_veca-b-c32_8xb2-lsj-100e_coco.py',
    'veca_retinanet_coco.py',
), ((1024, 1024), (683, 1024)))
WIDTH = dict(small=384, base=768, large=1024)


def test_every_config_of_the_readme_table_is_covered():
    readme = (REPO / 'README.md').read_text()
    table = readme[readme.index('## Configs'):readme.index('## Results')]
    linked = set(re.findall(r'\]\(configs/([^)]+\.py)\)', table))
    # Mask2Former and the linear probes run real forwards at their crop
    # size in test_mask2former.py / test_linear_probe.py; the LoRA forms
    # (of configs listed here) in test_lora.py / test_configs.py, the 4K
    # tiled-head config in test_tiled_inference.py.
    own_tests = ('veca_mask2former', 'veca/mask2former', 'veca_linear',
                 'veca_upernet_4k')
    headline = {c for c in linked if 'mini' not in c and '_lora' not in c
                and not c.startswith(own_tests)}
    assert headline and headline == set(SEG) | set(DET)


def _build(rel, scope):
    cfg = Config.fromfile(REPO / 'configs' / rel)
    cfg.model.backbone.init_cfg = None
    init_default_scope(scope)
    from mmengine.registry import MODELS
    with torch.device('meta'):
        model = MODELS.build(cfg.model).eval()
    backbone = model.backbone
    assert backbone.embed_dims == WIDTH[cfg.model.backbone.arch]
    assert cfg.model.backbone.init_cfg is None  # (only for this test)
    return cfg, model


def _crop_of(cfg):
    """The crop the training pipeline produces."""
    pipeline = cfg.train_dataloader.dataset.get('pipeline') or \
        cfg.train_dataloader.dataset.dataset.pipeline
    crops = [t.crop_size for t in pipeline if t.type == 'RandomCrop']
    assert len(crops) == 1
    return tuple(crops[0])


@pytest.mark.parametrize('rel', sorted(SEG))
def test_seg_and_depth_at_crop_and_test_size(rel):
    cfg, model = _build(rel, 'mmseg')
    crop, test = SEG[rel]
    assert _crop_of(cfg) == crop
    out_ch = 1 if cfg.model.type == 'DepthEstimator' else \
        cfg.model.decode_head.num_classes
    for h, w in (crop, test):
        x = torch.empty(1, 3, h, w, device='meta')
        with torch.no_grad():
            out = model(x, mode='tensor')
        assert out.device.type == 'meta'
        # UPerHead predicts at stride 4, the depth head at stride 2 (both
        # of the patch-padded input); mmseg resizes to the image later
        stride = 2 if out_ch == 1 else 4
        P = model.backbone.patch_size
        ph, pw = -(-h // P) * P, -(-w // P) * P
        assert tuple(out.shape) == (1, out_ch, ph // stride, pw // stride), \
            (rel, (h, w), tuple(out.shape))


@pytest.mark.parametrize('rel', sorted(DET))
def test_detectors_at_crop_and_test_size(rel):
    cfg, model = _build(rel, 'mmdet')
    crop, test = DET[rel]
    assert _crop_of(cfg) == crop
    divisor = cfg.model.data_preprocessor.pad_size_divisor
    if cfg.model.type == 'MaskRCNN':
        head, strides = model.rpn_head, [4, 8, 16, 32, 64]
    else:
        head, strides = model.bbox_head, [8, 16, 32, 64, 128]
    for h, w in (crop, test):
        # the data preprocessor pads every image to the size divisor
        h, w = -(-h // divisor) * divisor, -(-w // divisor) * divisor
        x = torch.empty(1, 3, h, w, device='meta')
        with torch.no_grad():
            feats = model.extract_feat(x)
            cls_scores, bbox_preds = head(feats)[:2]
        assert [tuple(f.shape[2:]) for f in feats] == [
            (h // s, w // s) for s in strides], (rel, (h, w))
        for f, c, b in zip(feats, cls_scores, bbox_preds):
            assert c.shape[2:] == b.shape[2:] == f.shape[2:]
