import pytest
import torch

from veca_mm.models.backbones import VECA

from .conftest import TINY_OFFICIAL_ARCH, load_tool


def load_converter():
    return load_tool('tools/model_converters/veca2mm.py')


def features(path, **kw):
    m = VECA(arch=TINY_OFFICIAL_ARCH, output_cls_token=True, core_budgets=16,
             init_cfg=dict(type='Pretrained', checkpoint=str(path)), **kw)
    m.init_weights()
    torch.manual_seed(0)
    with torch.no_grad():
        return m.eval()(torch.randn(1, 3, 48, 80))[0]


@pytest.fixture(scope='module')
def released(official_dir):
    return official_dir / 'veca_tiny_official.pt'


@pytest.fixture(scope='module')
def reference(released):
    return features(released)


def assert_same(a, b):
    torch.testing.assert_close(a[0], b[0], atol=0, rtol=0)
    torch.testing.assert_close(a[1], b[1], atol=0, rtol=0)


def test_converter_roundtrip(tmp_path, released, reference):
    conv = load_converter()
    dst = tmp_path / 'veca_tiny.pth'
    meta = conv.convert(str(released), str(dst))
    assert meta['veca_arch'] == TINY_OFFICIAL_ARCH
    ckpt = torch.load(dst, weights_only=True)
    assert all(k.startswith('backbone.') for k in ckpt['state_dict'])
    assert ckpt['meta']['patch_norm'] is False
    assert_same(features(dst), reference)


def test_converter_refuses_other_files(tmp_path, released):
    conv = load_converter()
    bad = tmp_path / 'mm.pth'
    torch.save(dict(state_dict={'backbone.x': torch.zeros(1)}), bad)
    with pytest.raises(ValueError, match='not a released VECA checkpoint.*'
                       'found .*state_dict'):
        conv.convert(str(bad), str(tmp_path / 'out.pth'))


def test_whole_model_and_backbone_only_mm_checkpoints(tmp_path, released,
                                                      reference):
    state = torch.load(released, weights_only=True)['student']
    state = {k[len('module.'):]: v for k, v in state.items()}
    whole = dict(state_dict={f'backbone.{k}': v for k, v in state.items()},
                 meta=dict(iter=3))
    whole['state_dict']['decode_head.conv_seg.weight'] = torch.zeros(2, 4)
    torch.save(whole, tmp_path / 'whole.pth')
    torch.save(dict(state_dict=state), tmp_path / 'backbone.pth')
    torch.save({f'module.{k}': v for k, v in state.items()},
               tmp_path / 'plain.pth')
    for name in ('whole.pth', 'backbone.pth', 'plain.pth'):
        assert_same(features(tmp_path / name), reference)


def test_checkpoint_of_another_arch_names_both(released):
    m = VECA(arch='small',
             init_cfg=dict(type='Pretrained', checkpoint=str(released)))
    with pytest.raises(ValueError) as err:
        m.init_weights()
    msg = str(err.value)
    assert "arch='small'" in msg and "'embed_dims': 128" in msg
    assert 'shape mismatches' in msg and 'missing keys' in msg


def test_patch_norm_hint(tmp_path, released):
    state = torch.load(released, weights_only=True)
    state['student']['module.patch_embed.norm.weight'] = torch.ones(128)
    state['student']['module.patch_embed.norm.bias'] = torch.zeros(128)
    torch.save(state, tmp_path / 'ln.pt')
    with pytest.raises(ValueError, match='set patch_norm=True'):
        features(tmp_path / 'ln.pt')
    assert features(tmp_path / 'ln.pt', patch_norm=True)[0].shape[1] == 128


def test_checkpoint_of_another_model_type(tmp_path):
    path = tmp_path / 'resnet.pth'
    torch.save(dict(state_dict={'backbone.conv1.weight': torch.zeros(1),
                                'backbone.bn1.weight': torch.zeros(1)}),
               path)
    with pytest.raises(ValueError, match='does not hold VECA weights.*'
                       'another model type'):
        features(path)


def test_missing_pretrained_names_the_converter(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match='(?s)veca2mm.py.*init_cfg=None'):
        features(tmp_path / 'checkpoints' / 'veca_base.pth')
