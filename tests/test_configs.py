"""Every shipped config parses and builds its model (weights on meta), and
its test-time path pads images to a multiple of the backbone's patch size
where mmseg/mmdet know about it."""
import copy
import functools
import math
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from .conftest import REPO

CONFIGS = sorted(p for p in (REPO / 'configs').rglob('*.py')
                 if '_base_' not in p.parts)


@functools.lru_cache(maxsize=None)
def _parsed(path):
    return Config.fromfile(path)


def _load(path):
    """A fresh copy of the parsed config (parsing is the slow part)."""
    return copy.deepcopy(_parsed(path))


def test_configs_found():
    assert len(CONFIGS) >= 10


# Speed anchors for tools/analysis_tools/benchmark_model.py: the same neck
# and head on timm's dense / windowed ViT-B through mmseg's TIMMBackbone.
ANCHORS = {
    'segformer_vit-b16_8xb2-80k_cityscapes-512x1024.py': 'TIMMBackbone',
    'segformer_vitdet-b16_8xb2-80k_cityscapes-512x1024.py': 'TIMMBackbone',
}
# VECA and its subclasses (LoRA adapters on a frozen VECA)
VECA_TYPES = ('VECA', 'VECALoRA')


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.name)
def test_config_builds(path):
    cfg = _load(path)
    assert 'veca_mm' in str(cfg.get('custom_imports', {}).get('imports', ''))
    backbone_type = ANCHORS.get(path.name, 'VECA')
    if cfg.model.backbone.type in VECA_TYPES:
        backbone_type = cfg.model.backbone.type
    assert cfg.model.backbone.type == backbone_type
    cfg.model.backbone.init_cfg = None
    scope = cfg.get('default_scope')
    assert scope in ('mmseg', 'mmdet')
    init_default_scope(scope)
    registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
    with torch.device('meta'):
        model = registry.build(cfg.model)
    assert type(model.backbone).__name__ == backbone_type
    if backbone_type not in VECA_TYPES:
        return
    # the layer-decay constructor agrees with the backbone depth
    pw = cfg.optim_wrapper.get('paramwise_cfg', {})
    if 'num_layers' in pw:
        assert pw['num_layers'] == model.backbone.num_layers


def patch_size(backbone):
    """The stride of the backbone's patch grid (VECA's default is 16)."""
    if backbone.type == 'TIMMBackbone':
        return int(re.search(r'patch(\d+)', backbone.model_name).group(1))
    return backbone.get('patch_size', 16)


def pad_multiple(cfg):
    """What every test image's sides become a multiple of before the model
    sees it, by padding the framework records (mmseg's test_cfg
    size_divisor / size, mmdet's pad_size_divisor) or a fixed-size resize in
    the test pipeline; None where nothing makes them one."""
    pre = cfg.model.get('data_preprocessor') or {}
    if cfg.default_scope == 'mmdet':
        return pre.get('pad_size_divisor')
    test_cfg = pre.get('test_cfg') or {}
    if test_cfg.get('size_divisor'):
        return test_cfg['size_divisor']
    if test_cfg.get('size'):
        return math.gcd(*test_cfg['size'])
    for t in cfg.test_dataloader.dataset.get('pipeline', []):
        if t.type == 'Resize' and t.get('keep_ratio') is False:
            return math.gcd(*t.scale)
    return None


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.name)
def test_config_test_path_is_aligned(path):
    """Padding done inside the backbone is unknown to mmseg, which would
    resize the logits of the padded grid onto the unpadded image (shifted
    by up to patch_size - 1 pixels); padding the data preprocessor does is
    cropped off again before that resize."""
    cfg = _load(path)
    P = patch_size(cfg.model.backbone)
    multiple = pad_multiple(cfg)
    where = ('model.data_preprocessor.pad_size_divisor'
             if cfg.default_scope == 'mmdet' else
             'model.data_preprocessor.test_cfg=dict(size_divisor=...)')
    assert multiple and multiple % P == 0, (
        f'{path.relative_to(REPO)}: test images are padded to a multiple '
        f'of {multiple}, not of the backbone patch size {P}: predictions '
        f'would be misaligned; set {where} to {P} (or a multiple of it)')
    mode = cfg.model.get('test_cfg', {}).get('mode')
    if mode == 'slide':
        crop = cfg.model.test_cfg.crop_size
        assert all(c % P == 0 for c in crop), (
            f'{path.relative_to(REPO)}: slide windows {crop} are not '
            f'multiples of the patch size {P}; set model.test_cfg.crop_size '
            'to multiples of it')


def test_alignment_check_catches_a_config_without_test_padding():
    cfg = _load(REPO / 'configs' / 'veca_upernet_ade20k.py')
    assert pad_multiple(cfg) == 16
    cfg.model.data_preprocessor.test_cfg = None
    assert pad_multiple(cfg) is None
    cfg.model.backbone.patch_size = 8
    cfg.model.data_preprocessor.test_cfg = dict(size=(64, 96))
    assert pad_multiple(cfg) == 32
