"""SimplePyramidNeck and LN2d: shapes, input modes, norms, registries."""
import pytest
import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.registry import MODELS as ROOT_MODELS
from torch.nn.modules.batchnorm import SyncBatchNorm

from veca_mm.models.layers import LN2d
from veca_mm.models.necks import SimplePyramidNeck

D, C, H, W = 32, 16, 5, 7  # odd grid on purpose


def _maps(n, b=2, h=H, w=W, seed=0):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(b, D, h, w, generator=g) for _ in range(n))


def _expected(stride, h=H, w=W):
    # The backbone grid is at stride 16; upsampling is exact, pooling floors.
    if stride <= 16:
        return h * 16 // stride, w * 16 // stride
    k = stride // 16
    return h // k, w // k


# ---------------------------------------------------------------- LN2d

def test_ln2d_matches_layernorm_on_channels_last():
    torch.manual_seed(0)
    ln2d = LN2d(D)
    ref = nn.LayerNorm(D, eps=1e-6)
    with torch.no_grad():
        ln2d.weight.normal_()
        ln2d.bias.normal_()
        ref.weight.copy_(ln2d.weight)
        ref.bias.copy_(ln2d.bias)
    x = torch.randn(3, D, H, W) * 5 + 2
    out = ln2d(x)
    want = ref(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    assert out.shape == x.shape
    torch.testing.assert_close(out, want, atol=1e-5, rtol=1e-5)
    # Normalised over channels: with unit affine each pixel has mean 0.
    plain = LN2d(D)(x)
    assert plain.mean(1).abs().max() < 1e-5
    assert ln2d.eps == 1e-6


def test_ln2d_registered_in_root_for_build_norm_layer():
    assert ROOT_MODELS.get('LN2d') is LN2d
    name, layer = build_norm_layer(dict(type='LN2d', requires_grad=False), 8)
    assert name == 'ln' and isinstance(layer, LN2d)
    assert layer.normalized_shape == (8, )
    assert not any(p.requires_grad for p in layer.parameters())
    with pytest.raises(ValueError, match='B x C x H x W'):
        layer(torch.randn(2, 8))


# ---------------------------------------------------------------- shapes

@pytest.mark.parametrize('n_inputs', [1, 4])
def test_shapes_strides_4_to_32(n_inputs):
    neck = SimplePyramidNeck(D, out_channels=C)
    outs = neck(_maps(n_inputs))
    assert isinstance(outs, tuple) and len(outs) == 4
    for out, stride in zip(outs, (4, 8, 16, 32)):
        assert out.shape == (2, C, *_expected(stride)), stride
    assert [o.shape[-2:] for o in outs] == [(20, 28), (10, 14), (5, 7),
                                            (2, 3)]


@pytest.mark.parametrize('n_inputs', [1, 5])
def test_shapes_with_stride_64(n_inputs):
    scales = (4.0, 2.0, 1.0, 0.5, 0.25)
    neck = SimplePyramidNeck(D, out_channels=C, scale_factors=scales)
    outs = neck(_maps(n_inputs, h=9, w=13))
    assert [tuple(o.shape) for o in outs] == [
        (2, C, *_expected(s, 9, 13)) for s in (4, 8, 16, 32, 64)]
    assert outs[-1].shape[-2:] == (2, 3)


def test_subset_of_levels_keeps_order():
    neck = SimplePyramidNeck(D, out_channels=C, scale_factors=(2.0, 1.0))
    outs = neck(_maps(1))
    assert [o.shape[-2:] for o in outs] == [(10, 14), (5, 7)]


def test_per_level_inputs_are_used_level_by_level():
    neck = SimplePyramidNeck(D, out_channels=C).eval()
    maps = _maps(4)
    base = neck(maps)
    changed = list(maps)
    changed[2] = changed[2] + 1.0 + torch.randn_like(changed[2])
    outs = neck(tuple(changed))
    for i, (a, b) in enumerate(zip(base, outs)):
        if i == 2:
            assert not torch.allclose(a, b)
        else:
            torch.testing.assert_close(a, b)


def test_single_input_feeds_every_level():
    neck = SimplePyramidNeck(D, out_channels=C).eval()
    x = _maps(1)
    # One map == that map repeated once per level.
    torch.testing.assert_close(neck(x), neck(x * 4))
    # A bare tensor is the same as a one-map tuple.
    torch.testing.assert_close(neck(x[0]), neck(x))


def test_accepts_map_cls_pairs():
    neck = SimplePyramidNeck(D, out_channels=C).eval()
    maps = _maps(4)
    pairs = [(m, torch.randn(2, D)) for m in maps]
    torch.testing.assert_close(neck(pairs), neck(maps))
    torch.testing.assert_close(neck([pairs[0]]), neck(maps[:1]))


# ---------------------------------------------------------------- norms

def _norm_types(neck):
    return {type(m) for m in neck.modules()
            if isinstance(m, (nn.LayerNorm, nn.GroupNorm, nn.BatchNorm2d,
                              SyncBatchNorm))}


@pytest.mark.parametrize('norm_cfg, cls', [
    (dict(type='LN2d', requires_grad=True), LN2d),
    (dict(type='BN', requires_grad=True), nn.BatchNorm2d),
    (dict(type='GN', num_groups=4, requires_grad=True), nn.GroupNorm),
])
def test_norm_types_forward(norm_cfg, cls):
    neck = SimplePyramidNeck(D, out_channels=C, norm_cfg=norm_cfg)
    assert _norm_types(neck) == {cls}
    # 4 levels x 2 convs + the norm inside the x4 path (D/2 channels).
    norms = [m for m in neck.modules() if isinstance(m, cls)]
    assert len(norms) == 9
    x4_norm = neck.resample[0][1]
    assert isinstance(x4_norm, cls)
    width = (x4_norm.num_channels if cls is nn.GroupNorm else
             x4_norm.num_features if cls is nn.BatchNorm2d else
             x4_norm.normalized_shape[0])
    assert width == D // 2
    outs = neck(_maps(1))
    assert [o.shape[1] for o in outs] == [C] * 4
    assert all(torch.isfinite(o).all() for o in outs)


def test_ln2d_default_eps_is_vitdet():
    neck = SimplePyramidNeck(D, out_channels=C)
    eps = {m.eps for m in neck.modules() if isinstance(m, LN2d)}
    assert eps == {1e-6}
    neck = SimplePyramidNeck(D, out_channels=C,
                             norm_cfg=dict(type='LN2d', eps=1e-3))
    assert {m.eps for m in neck.modules() if isinstance(m, LN2d)} == {1e-3}


def test_convs_have_no_bias_when_normed():
    neck = SimplePyramidNeck(D, out_channels=C)
    convs = [m for m in neck.out_convs.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 8
    assert all(c.bias is None for c in convs)
    assert [c.kernel_size for c in convs[:2]] == [(1, 1), (3, 3)]


def test_syncbn_builds():
    neck = SimplePyramidNeck(D, out_channels=C,
                             norm_cfg=dict(type='SyncBN', requires_grad=True))
    norms = [m for m in neck.modules()
             if isinstance(m, nn.modules.batchnorm._NormBase)]
    assert len(norms) == 9
    assert all(isinstance(m, SyncBatchNorm) for m in norms)


def test_gn_groups_not_dividing_channels_error():
    # 32 groups cannot divide the D/2 = 16 channels of the x4 path.
    with pytest.raises(ValueError, match='num_groups=32.*16 channels'):
        SimplePyramidNeck(D, out_channels=32,
                          norm_cfg=dict(type='GN', num_groups=32))
    with pytest.raises(ValueError, match='out_channels'):
        SimplePyramidNeck(D, out_channels=12, scale_factors=(1.0, ),
                          norm_cfg=dict(type='GN', num_groups=8))


# ---------------------------------------------------------------- registries

@pytest.mark.parametrize('scope', ['mmseg', 'mmdet'])
def test_builds_from_downstream_registries(scope):
    registry = pytest.importorskip(f'{scope}.registry').MODELS
    assert registry.parent is not None
    cfg = dict(type='SimplePyramidNeck', in_channels=D, out_channels=C,
               scale_factors=(4.0, 2.0, 1.0, 0.5, 0.25),
               norm_cfg=dict(type='LN2d', requires_grad=True))
    neck = registry.build(cfg)
    assert type(neck) is SimplePyramidNeck
    assert len(neck(_maps(1, h=8, w=8))) == 5
    # Registered once, in the root registry, not in the child.
    assert 'SimplePyramidNeck' not in registry.module_dict
    assert ROOT_MODELS.module_dict['SimplePyramidNeck'] is SimplePyramidNeck
    assert 'LN2d' not in registry.module_dict


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize('n_inputs', [0, 2, 5])
def test_wrong_number_of_inputs(n_inputs):
    neck = SimplePyramidNeck(D, out_channels=C)
    with pytest.raises(ValueError) as err:
        neck(_maps(n_inputs))
    msg = str(err.value)
    assert '4 levels' in msg and f'got {n_inputs} backbone maps' in msg
    assert 'out_indices' in msg


@pytest.mark.parametrize('scales', [(4.0, 3.0), (8.0, ), (1.0, 0.125), ()])
def test_bad_scale_factor(scales):
    with pytest.raises(ValueError) as err:
        SimplePyramidNeck(D, out_channels=C, scale_factors=scales)
    msg = str(err.value)
    assert '(4.0, 2.0, 1.0, 0.5, 0.25)' in msg
    for s in scales:
        assert str(s) in msg


def test_in_channels_divisible_by_4_for_x4():
    with pytest.raises(ValueError, match='divisible by 4'):
        SimplePyramidNeck(30, out_channels=C)
    # Without the x4 level, 30 channels are fine.
    neck = SimplePyramidNeck(30, out_channels=C, scale_factors=(2.0, 1.0))
    assert len(neck([torch.randn(1, 30, 3, 3)])) == 2


# ---------------------------------------------------------------- gradients

@pytest.mark.parametrize('norm_cfg', [dict(type='LN2d'), dict(type='BN')])
def test_gradient_reaches_every_parameter(norm_cfg):
    torch.manual_seed(0)
    neck = SimplePyramidNeck(D, out_channels=C, norm_cfg=norm_cfg,
                             scale_factors=(4.0, 2.0, 1.0, 0.5, 0.25))
    neck.init_weights()
    x = torch.randn(2, D, 8, 8, requires_grad=True)
    outs = neck((x, ))
    # A random projection: a plain sum is constant under the final norm.
    loss = sum((o * torch.randn_like(o)).sum() for o in outs)
    loss.backward()
    params = dict(neck.named_parameters())
    assert len(params) > 20
    missing = [n for n, p in params.items()
               if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, missing
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_ln2d_is_timms_layernorm2d():
    """One implementation: LN2d is timm's LayerNorm2d under the mm name."""
    from timm.layers import LayerNorm2d
    assert issubclass(LN2d, LayerNorm2d)
    x = torch.randn(2, D, H, W)
    torch.testing.assert_close(LN2d(D)(x), LayerNorm2d(D)(x))


def test_no_stride_claim_tied_to_patch_16():
    """The neck does not know the backbone's patch size, so it claims no
    output strides (it used to assume 16, wrong for the patch-8 configs);
    the pyramid is the scale factors times the input size."""
    neck = SimplePyramidNeck(D, out_channels=C)
    assert not hasattr(neck, 'strides')
    outs = neck(torch.randn(1, D, 4, 6))
    assert [tuple(o.shape[2:]) for o in outs] == [(16, 24), (8, 12), (4, 6),
                                                 (2, 3)]
