"""Every forward-relevant field of a released config is honoured or refused.

Each test file is written by our own code in the released format
(``tests/released_format.py``) with one field moved off its default; the
reference outputs in ``tests/data/released_fields_ref.pt`` were computed by
the released code (alansong1322/VECA at f9394e9) from the same files.
"""
import pytest
import torch

from veca_mm.apis import init_backbone
from veca_mm.models.backbones import VECA
from veca_mm.models.backbones.released_format import (
    RELEASED_FIELDS, ReleasedConfigError, veca_args_from_released_config)

from . import released_format as rf


@pytest.fixture(scope='module')
def refs(official_dir):
    return torch.load(official_dir / 'released_fields_ref.pt',
                      weights_only=True)['variants']


def run(model, x, train, C):
    model.set_core_budgets(C)
    model.train(train)
    with torch.no_grad():
        if train:  # the coordinate augmentation draws as the released code
            torch.manual_seed(rf.TRAIN_SEED)
        (fmap, cls), = model(x)
    return cls, fmap.flatten(2).transpose(1, 2)


@pytest.mark.parametrize('name', list(rf.VARIANTS))
def test_field_reproduces_released_code(tmp_path, refs, name):
    changes, train = rf.VARIANTS[name]
    ref = refs[name]
    assert ref['changes'] == changes and ref['train'] == train
    cfg = rf.variant_config(name)
    path = rf.write_released(tmp_path / f'{name}.pt', cfg,
                             prefix='module.' if name == 'default' else '')
    model = init_backbone(path, out_indices=-1, output_cls_token=True,
                          distill_proj=True)
    x = rf.variant_input(cfg)
    assert sorted(ref['outputs']) == rf.budgets(cfg)
    for C, want in ref['outputs'].items():
        cls, patches = run(model, x, train, C)
        torch.testing.assert_close(cls, want['cls'], rtol=0, atol=1e-5)
        torch.testing.assert_close(patches, want['patches'], rtol=0,
                                   atol=1e-5)


# Fields whose change keeps every weight shape: reverting the argument must
# change the released output (so the parity above could fail) and loading
# into a VECA with the default must be refused, naming field and argument.
SAME_SHAPES = ['zero_quarter', 'zero_high', 'zero_none', 'shift', 'no_shift',
               'jitter', 'rescale', 'no_rescale']


@pytest.mark.parametrize('name', SAME_SHAPES)
def test_field_matters_and_a_default_veca_is_refused(tmp_path, refs, name):
    changes, train = rf.VARIANTS[name]
    base = refs['default_train' if train else 'default']['outputs'][16]
    want = refs[name]['outputs'][16]
    assert (want['patches'] - base['patches']).abs().max() > 1e-3
    cfg = rf.variant_config(name)
    path = rf.write_released(tmp_path / 'v.pt', cfg)
    args = veca_args_from_released_config(cfg)
    for field in changes:
        args[RELEASED_FIELDS[field][0]] = RELEASED_FIELDS[field][1]
    model = VECA(**args, out_indices=-1, output_cls_token=True,
                 init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(ValueError) as err:
        model.init_weights()
    msg = str(err.value)
    for field, value in changes.items():
        arg = RELEASED_FIELDS[field][0]
        assert f'{field} (VECA {arg})={value!r}' in msg, msg
        assert f'set {arg}={value!r}' in msg
    # the same weights with the default argument give the default output:
    # the field is what makes the difference
    model.load_state_dict(rf.seeded_state(cfg))
    cls, patches = run(model, rf.variant_input(cfg), train, 16)
    torch.testing.assert_close(patches, base['patches'], rtol=0, atol=1e-5)


@pytest.mark.parametrize('name, field, arg', [
    ('patch8', 'patch_size', 'patch_size'),
    ('chunk4', 'nested_chunk_size', 'core_chunk'),
    ('legacy_chunk4', 'nested_chunk_size', 'core_chunk'),
    ('patch_ln', 'patch_embed_use_ln', 'patch_norm'),
    ('gray', 'in_channels', 'in_channels'),
    ('distill48', 'distill_output_dim', 'distill_dims'),
])
def test_shape_fields_refused_by_a_default_veca(tmp_path, name, field, arg):
    cfg = rf.variant_config(name)
    path = rf.write_released(tmp_path / 'v.pt', cfg)
    args = veca_args_from_released_config(rf.BASE_CONFIG)
    model = VECA(**args, init_cfg=dict(type='Pretrained',
                                       checkpoint=str(path)))
    with pytest.raises(ValueError, match=f'{field} \\((VECA|arch) {arg}\\)'):
        model.init_weights()


def test_no_released_field_is_left_unmapped():
    """The test files move every forward-relevant field of the table."""
    moved = set()
    for changes, _ in rf.VARIANTS.values():
        moved |= set(changes)
    moved.discard('matryoshka_chunk_size')
    assert set(RELEASED_FIELDS) - {'rope_zero_freqs_from'} | {
        'distill_output_dim'} <= moved | {'rope_zero_freqs_from'}
    assert 'rope_zero_freqs_from' in moved


@pytest.mark.parametrize('change, message', [
    (dict(dropout=0.1), r'dropout=0\.1.*no dropout'),
    (dict(rope_zero_freqs_from='middle'),
     r"rope_zero_freqs_from='middle'.*'low' and 'high'"),
    (dict(hidden_dim='wide'), r"malformed released config: hidden_dim='wide'"),
    (dict(mlp_ratio=None), r'malformed released config: mlp_ratio=None'),
    (dict(patch_embed_use_ln='yes'), r"patch_embed_use_ln='yes' is not a bool"),
    (dict(rope_shift_coords='0.1'), r"rope_shift_coords='0.1' is not a number"),
    (dict(teacher_layers=4), r"\['teacher_layers'\] are unknown"),
    (dict(model_family='small'),
     r'hidden_dim=64 contradicts model_family=.small.'),
    (dict(matryoshka_chunk_size=4), r'legacy name .* disagree'),
])
def test_bad_released_configs_are_clear_errors(tmp_path, change, message):
    cfg = dict(rf.BASE_CONFIG, **change)
    path = rf.write_released(tmp_path / 'bad.pt', rf.BASE_CONFIG)
    ckpt = torch.load(path, weights_only=True)
    ckpt['config'] = cfg
    torch.save(ckpt, path)
    with pytest.raises(ReleasedConfigError, match=message):
        init_backbone(path)
    model = VECA(**veca_args_from_released_config(rf.BASE_CONFIG),
                 init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(ReleasedConfigError, match=message):
        model.init_weights()


@pytest.mark.parametrize('config', [[1, 2], 'small', None])
def test_malformed_config_is_not_swallowed(tmp_path, config):
    """issue #18: a config that is not a dict used to mean 'no arch'."""
    path = rf.write_released(tmp_path / 'bad.pt', rf.BASE_CONFIG)
    ckpt = torch.load(path, weights_only=True)
    ckpt['config'] = config
    torch.save(ckpt, path)
    with pytest.raises(ReleasedConfigError,
                       match='malformed released config: expected a dict'):
        init_backbone(path)


def test_custom_family_without_arch_fields(tmp_path):
    cfg = {k: v for k, v in rf.BASE_CONFIG.items() if k != 'num_heads'}
    with pytest.raises(ReleasedConfigError,
                       match=r"no 'num_heads' and model_family='custom'"):
        veca_args_from_released_config(cfg)


def test_coord_aug_off_is_an_explicit_opt_out(tmp_path, refs):
    """coord_aug=False turns the train-mode augmentation off, whatever the
    file's rope_*_coords say; eval outputs are unchanged by it."""
    cfg = rf.variant_config('jitter')
    path = rf.write_released(tmp_path / 'j.pt', cfg)
    model = init_backbone(path, coord_aug=False, out_indices=-1,
                          output_cls_token=True)
    x = rf.variant_input(cfg)
    cls, patches = run(model, x, False, 16)
    torch.testing.assert_close(patches,
                               refs['default']['outputs'][16]['patches'],
                               rtol=0, atol=1e-5)
    # in train mode nothing is drawn: the same as eval
    torch.testing.assert_close(run(model, x, True, 16)[1], patches)


def test_projection_width_from_the_weights_when_config_lacks_it(tmp_path,
                                                                 refs):
    cfg = rf.variant_config('distill48')
    path = rf.write_released(tmp_path / 'd.pt', cfg)
    ckpt = torch.load(path, weights_only=True)
    del ckpt['config']['distill_output_dim']
    torch.save(ckpt, path)
    model = init_backbone(path, out_indices=-1, output_cls_token=True,
                          distill_proj=True)
    assert model.arch['distill_dims'] == 48
    cls, patches = run(model, rf.variant_input(cfg), False, 16)
    torch.testing.assert_close(
        patches, refs['distill48']['outputs'][16]['patches'], rtol=0,
        atol=1e-5)
    # a config that says "no projection" while the weights have one
    ckpt['config']['distill_output_dim'] = None
    torch.save(ckpt, path)
    with pytest.raises(ValueError, match='distill_dims=48'):
        init_backbone(path)
