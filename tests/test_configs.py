"""Every shipped config parses and builds its model (weights on meta)."""
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from .conftest import REPO

CONFIGS = sorted(p for p in (REPO / 'configs').rglob('*.py')
                 if '_base_' not in p.parts)


def test_configs_found():
    assert len(CONFIGS) >= 10


# Speed anchors for tools/analysis_tools/benchmark_model.py: the same neck
# and head on timm's dense / windowed ViT-B through mmseg's TIMMBackbone.
ANCHORS = {
    'segformer_vit-b16_8xb2-80k_cityscapes-512x1024.py': 'TIMMBackbone',
    'segformer_vitdet-b16_8xb2-80k_cityscapes-512x1024.py': 'TIMMBackbone',
}


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.name)
def test_config_builds(path):
    cfg = Config.fromfile(path)
    assert 'veca_mm' in str(cfg.get('custom_imports', {}).get('imports', ''))
    backbone_type = ANCHORS.get(path.name, 'VECA')
    assert cfg.model.backbone.type == backbone_type
    cfg.model.backbone.init_cfg = None
    scope = cfg.get('default_scope')
    assert scope in ('mmseg', 'mmdet')
    init_default_scope(scope)
    registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
    with torch.device('meta'):
        model = registry.build(cfg.model)
    assert type(model.backbone).__name__ == backbone_type
    if backbone_type != 'VECA':
        return
    # the layer-decay constructor agrees with the backbone depth
    pw = cfg.optim_wrapper.get('paramwise_cfg', {})
    if 'num_layers' in pw:
        assert pw['num_layers'] == model.backbone.num_layers
