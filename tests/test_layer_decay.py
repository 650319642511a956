"""VECALayerDecayOptimizerConstructor."""
import importlib

import pytest
import torch.nn as nn
from mmengine.optim import build_optim_wrapper
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS

from veca_mm.engine.optimizers import (VECALayerDecayOptimizerConstructor,
                                       get_layer_id_for_veca)
from veca_mm.models.backbones import VECA

L = 4
LR = 1e-4
WD = 0.05
RATE = 0.65


# The real backbone (not a copy of its parameter names): a tiny VECA with
# a patch LayerNorm, two core chunks and L layers.
ARCH = dict(embed_dims=16, num_layers=L, num_heads=2, mlp_ratio=2.0,
            num_cores=16)


class _Segmentor(nn.Module):
    """A real VECA backbone and a small head outside it."""

    def __init__(self):
        super().__init__()
        self.backbone = VECA(arch=ARCH, patch_size=4, patch_norm=True)
        self.decode_head = nn.Module()
        self.decode_head.conv_seg = nn.Conv2d(16, 3, 1)
        self.decode_head.norm = nn.BatchNorm2d(16)


def _cfg(**paramwise):
    return dict(type='OptimWrapper',
                optimizer=dict(type='AdamW',
                               lr=LR,
                               betas=(0.9, 0.999),
                               weight_decay=WD),
                constructor='VECALayerDecayOptimizerConstructor',
                paramwise_cfg=dict(layer_decay_rate=RATE, **paramwise))


def _settings(model, optim_wrapper):
    """name -> (lr, weight_decay), asserting each param is in one group."""
    by_id = {}
    for group in optim_wrapper.optimizer.param_groups:
        for p in group['params']:
            assert id(p) not in by_id, 'parameter in two groups'
            by_id[id(p)] = (group['lr'], group['weight_decay'])
    out = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            out[name] = by_id.pop(id(p))
    assert not by_id, 'optimizer holds parameters the model does not'
    return out


def _lr(layer_id):
    return LR * RATE**(L + 1 - layer_id)


@pytest.mark.parametrize('paramwise', [dict(num_layers=L), dict()])
def test_lr_and_weight_decay(paramwise):
    model = _Segmentor()
    ow = build_optim_wrapper(model, _cfg(**paramwise))
    s = _settings(model, ow)
    assert len(s) == len(list(model.parameters()))

    def check(name, lr, wd):
        assert s[name][0] == pytest.approx(lr, rel=1e-12, abs=0), name
        assert s[name][1] == wd, name

    # Layer 0: patch embed, core bank, pos_alpha.
    check('backbone.patch_embed.proj.weight', _lr(0), WD)
    check('backbone.patch_embed.proj.bias', _lr(0), 0.)
    check('backbone.patch_embed.norm.weight', _lr(0), 0.)
    assert s['backbone.patch_embed.proj.weight'][0] == pytest.approx(LR *
                                                                     RATE**5)
    for i in range(2):
        check(f'backbone.query_token_chunks.{i}', _lr(0), 0.)
        check(f'backbone.qcoord_chunks.{i}', _lr(0), 0.)
    check('backbone.pos_alpha', _lr(0), 0.)
    # Blocks: blocks.l -> l + 1.
    for layer in range(L):
        check(f'backbone.blocks.{layer}.fc1.weight', _lr(layer + 1), WD)
        check(f'backbone.blocks.{layer}.fc1.bias', _lr(layer + 1), 0.)
        check(f'backbone.blocks.{layer}.attn.q_proj.weight', _lr(layer + 1),
              WD)
        check(f'backbone.blocks.{layer}.norm_ffn.weight', _lr(layer + 1), 0.)
    check('backbone.blocks.3.fc2.weight', LR * RATE, WD)
    check('backbone.blocks.0.fc1.weight', LR * RATE**4, WD)
    # pos_linears.l runs before block l + 1: same id.
    for layer in range(L - 1):
        assert s[f'backbone.pos_linears.{layer}.weight'] == (
            s[f'backbone.blocks.{layer + 1}.fc1.weight'])
        check(f'backbone.pos_linears.{layer}.bias', _lr(layer + 2), 0.)
    # Top: final norm and everything outside the backbone.
    check('backbone.final_norm.weight', LR, 0.)
    check('backbone.final_norm.bias', LR, 0.)
    check('decode_head.conv_seg.weight', LR, WD)
    check('decode_head.conv_seg.bias', LR, 0.)
    check('decode_head.norm.weight', LR, 0.)


def test_groups_and_frozen_params():
    model = _Segmentor()
    model.backbone.patch_embed.requires_grad_(False)
    ow = build_optim_wrapper(model, _cfg(num_layers=L))
    s = _settings(model, ow)
    assert not any(k.startswith('backbone.patch_embed') for k in s)
    groups = ow.optimizer.param_groups
    assert len(groups) == len(set(g['group_name'] for g in groups))
    # layer 0 no_decay (core bank), 1..L decay + no_decay, L+1 both.
    assert len(groups) == 1 + 2 * L + 2
    assert groups[0]['group_name'] == 'layer_0_no_decay'


def test_layer_ids():
    assert get_layer_id_for_veca('backbone.patch_embed.proj.weight', L) == 0
    assert get_layer_id_for_veca('backbone.blocks.0.fc1.weight', L) == 1
    assert get_layer_id_for_veca('backbone.pos_linears.0.weight', L) == 2
    assert get_layer_id_for_veca('backbone.final_norm.bias', L) == L + 1
    assert get_layer_id_for_veca('neck.conv.weight', L) == L + 1
    with pytest.raises(ValueError, match='num_layers'):
        get_layer_id_for_veca('backbone.blocks.4.fc1.weight', L)
    with pytest.raises(ValueError, match='num_layers'):
        get_layer_id_for_veca('backbone.pos_linears.3.weight', L)
    with pytest.raises(ValueError, match='backbone.mystery'):
        get_layer_id_for_veca('backbone.mystery.weight', L)


def test_bad_key():
    with pytest.raises(ValueError, match='norm_decay_mult'):
        build_optim_wrapper(_Segmentor(),
                            _cfg(num_layers=L, norm_decay_mult=0.))


def test_missing_rate():
    cfg = _cfg()
    cfg['paramwise_cfg'] = dict(num_layers=L)
    with pytest.raises(ValueError, match='layer_decay_rate'):
        build_optim_wrapper(_Segmentor(), cfg)


def _no_num_layers():
    model = _Segmentor()
    del model.backbone.num_layers
    return model


def test_missing_num_layers():
    model = _no_num_layers()
    with pytest.raises(ValueError, match='num_layers'):
        build_optim_wrapper(model, _cfg())


def test_num_layers_mismatch():
    with pytest.raises(ValueError, match='num_layers=2'):
        build_optim_wrapper(_Segmentor(), _cfg(num_layers=2))


def test_registered_in_root():
    assert OPTIM_WRAPPER_CONSTRUCTORS.get(
        'VECALayerDecayOptimizerConstructor') is \
        VECALayerDecayOptimizerConstructor


def _import_registry(package):
    try:  # mmseg / mmdet import mmcv at package import
        return importlib.import_module(f'{package}.registry')
    except ImportError as e:
        pytest.skip(f'{package}.registry not importable (mmcv built?): {e}')


def test_found_from_mmseg_registry():
    SEG = _import_registry('mmseg').OPTIM_WRAPPER_CONSTRUCTORS
    assert SEG.get('VECALayerDecayOptimizerConstructor') is \
        VECALayerDecayOptimizerConstructor
    ow = SEG.build(
        dict(type='VECALayerDecayOptimizerConstructor',
             optim_wrapper_cfg=dict(type='OptimWrapper',
                                    optimizer=dict(type='AdamW',
                                                   lr=LR,
                                                   weight_decay=WD)),
             paramwise_cfg=dict(layer_decay_rate=RATE,
                                num_layers=L)))(_Segmentor())
    assert len(ow.optimizer.param_groups) == 2 * L + 4


def test_found_from_mmdet_registry():
    DET = _import_registry('mmdet').OPTIM_WRAPPER_CONSTRUCTORS
    assert DET.get('VECALayerDecayOptimizerConstructor') is \
        VECALayerDecayOptimizerConstructor


def test_every_real_parameter_in_exactly_one_group():
    model = _Segmentor()
    ow = build_optim_wrapper(model, _cfg())
    s = _settings(model, ow)  # asserts one group per parameter
    names = {n for n, _ in model.named_parameters()}
    assert set(s) == names
    # every backbone parameter has a layer id (none falls to "unknown")
    for name in names:
        assert 0 <= get_layer_id_for_veca(name, L) <= L + 1


def test_same_rule_as_mmseg_vit_where_names_correspond():
    """mmseg's own ViT layer-decay rule (``get_layer_id_for_vit``, max id
    ``L + 2``) on the real VECA's names, ``blocks`` read as its ``layers``:
    the same id for the patch embedding, every block parameter, the final
    norm and everything outside the backbone. The VECA-only parts differ by
    design: the core bank and pos_alpha are input-side (0, as mmseg's
    cls_token / pos_embed), pos_linears.l goes with block l + 1."""
    mmseg_opt = pytest.importorskip(
        'mmseg.engine.optimizers.layer_decay_optimizer_constructor')
    model = _Segmentor()
    compared = 0
    for name, _ in model.named_parameters():
        ours = get_layer_id_for_veca(name, L)
        if name.startswith(('backbone.query_token_chunks',
                            'backbone.qcoord_chunks', 'backbone.pos_alpha')):
            assert ours == 0, name
            continue
        if name.startswith('backbone.pos_linears.'):
            assert ours == int(name.split('.')[2]) + 2, name
            continue
        vit_name = name.replace('backbone.blocks.', 'backbone.layers.')
        assert ours == mmseg_opt.get_layer_id_for_vit(vit_name, L + 2), name
        compared += 1
    assert compared > 10 * L
