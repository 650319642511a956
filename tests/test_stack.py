"""The foundation: the pinned stack imports and veca_mm plugs into it."""
import subprocess
import sys

import pytest
import torch

from .conftest import REPO


def test_whole_stack_imports():
    import mmcv
    import mmdet
    import mmengine
    import mmseg
    import timm  # noqa: F401

    import veca_mm
    assert mmcv.__version__ == '2.1.0'
    assert mmengine.__version__ == '0.10.7'
    assert mmseg.__version__ == '1.2.2'
    assert mmdet.__version__ == '3.3.0'
    assert torch.__version__.split('+')[0] == '2.14.1'
    assert veca_mm.__version__


def test_mmcv_compiled_ops_run_on_cpu():
    import mmcv._ext  # noqa: F401  (the compiled extension)
    from mmcv.ops import RoIAlign, nms
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.],
                          [50., 50., 60., 60.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    dets, keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    assert dets.shape == (2, 5)
    feat = torch.arange(64, dtype=torch.float32).view(1, 1, 8, 8)
    rois = torch.tensor([[0., 0., 0., 3., 3.]])
    roi_align = RoIAlign((2, 2), spatial_scale=1.0, sampling_ratio=2,
                         aligned=True)
    assert not roi_align.use_torchvision
    out = roi_align(feat, rois)
    assert out.shape == (1, 1, 2, 2)
    # an independent implementation of the same op agrees
    from torchvision.ops import roi_align
    want = roi_align(feat, rois, (2, 2), 1.0, 2, aligned=True)
    torch.testing.assert_close(out, want)
    assert float(out.std()) > 0


@pytest.mark.parametrize('scope, cfg_base', [
    ('mmseg', 'mmseg::_base_/models/upernet_r50.py'),
    ('mmdet', 'mmdet::_base_/models/retinanet_r50_fpn.py'),
])
def test_custom_imports_from_mm_configs(tmp_path, scope, cfg_base):
    """A fresh process: only the config's custom_imports imports veca_mm."""
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(
        f"_base_ = '{cfg_base}'\n"
        "custom_imports = dict(imports=['veca_mm'], "
        "allow_failed_imports=False)\n"
        "model = dict(backbone=dict(_delete_=True, type='VECA', arch=dict("
        "embed_dims=32, num_layers=2, num_heads=2, mlp_ratio=2.0, "
        "num_cores=8)))\n")
    code = f"""
import sys
from mmengine.config import Config
from mmengine.registry import init_default_scope
assert 'veca_mm' not in sys.modules
cfg = Config.fromfile({str(cfg)!r})
assert 'veca_mm' in sys.modules, 'custom_imports did not import veca_mm'
init_default_scope({scope!r})
from {scope}.registry import MODELS
backbone = MODELS.build(cfg.model.backbone)
print(type(backbone).__module__, type(backbone).__name__)
"""
    out = subprocess.run([sys.executable, '-c', code], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'veca_mm.models.backbones.veca VECA' in out.stdout


@pytest.mark.parametrize('scope', ['mmseg', 'mmdet'])
def test_veca_registered_once_and_found_from_both(scope):
    import importlib

    from mmengine.registry import MODELS as ROOT

    import veca_mm  # noqa: F401
    registry = importlib.import_module(f'{scope}.registry').MODELS
    assert registry.get('VECA') is ROOT.get('VECA')
    model = registry.build(
        dict(type='VECA', arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                                    mlp_ratio=2.0, num_cores=8)))
    assert model(torch.randn(1, 3, 32, 32))[0].shape == (1, 32, 2, 2)
