"""Property-based tests of the released-format reader and ``init_backbone``
on mutated released checkpoints (issue #26).

Property: a mutated file either loads and computes exactly what the
unmutated one computes (or, for a tensor stored in another floating dtype,
exactly what those rounded weights compute), or raises a veca_mm error that
names the file and the problem. Never a silent load of other numbers.
"""
import io
import math
import os
import tempfile

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from veca_mm.apis import init_backbone
from veca_mm.utils.safe_load import CorruptCheckpointError

from .conftest import DATA
from .fuzzing import examples, raised_by_veca_mm

FILES = ('veca_tiny_official.pt', 'veca_tiny_distilled.pt')
BUDGET = 8
NAN, INF = float('nan'), float('inf')
# Released config fields read as ints, as numbers, and the others.
INT_FIELDS = ('hidden_dim', 'num_layers', 'num_heads', 'num_query_tokens',
              'patch_size', 'in_channels', 'nested_chunk_size',
              'distill_output_dim')
FLOAT_FIELDS = ('mlp_ratio', 'rope_p_zero_freqs', 'rope_shift_coords',
                'rope_jitter_coords', 'rope_rescale_coords')
OTHER_FIELDS = ('patch_embed_use_ln', 'rope_zero_freqs_from', 'dropout',
                'model_family')
JUNK = (None, 'x', True, 1.5, NAN, INF, -1, 0, 10**12, [], {}, [3])


def load_raw(name):
    return torch.load(DATA / name, weights_only=True)


def features(path, **kw):
    model = init_backbone(path, out_indices=-1, output_cls_token=True,
                          core_budgets=BUDGET, distill_proj=True, **kw)
    x = torch.randn(1, model.in_channels, 32, 48,
                    generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        (fmap, cls), = model(x)
    return model, fmap, cls


@pytest.fixture(scope='module')
def references():
    """Per fixture: the loaded checkpoint, and the model + outputs of the
    unmutated file."""
    return {name: (load_raw(name), features(str(DATA / name)))
            for name in FILES}


# --------------------------------------------------------------------- #
# Mutations: each returns (bytes or object to save, kind, detail)
def mutate_state(draw, state):
    keys = sorted(state)
    key = draw(st.sampled_from(keys))
    how = draw(st.sampled_from(('drop', 'add', 'rename', 'reshape', 'dtype',
                                'nontensor')))
    state = dict(state)
    if how == 'drop':
        del state[key]
        return state, how, key
    if how == 'add':
        new = draw(st.sampled_from(('module.extra.weight',
                                    'module.blocks.99.fc1.weight',
                                    'module.head.bias')))
        state[new] = torch.zeros(3)
        return state, how, new
    if how == 'rename':
        new = draw(st.sampled_from(('backbone.', 'blocks_', 'x.'))) + key
        state[new] = state.pop(key)
        return state, how, key
    if how == 'reshape':
        t = state[key]
        state[key] = draw(st.sampled_from((
            t.flatten(), t[..., :max(t.shape[-1] - 1, 0)],
            torch.cat((t, t), dim=0), t.unsqueeze(0))))
        if state[key].shape == t.shape:
            state[key] = t.unsqueeze(0)
        return state, how, key
    if how == 'dtype':
        dtype = draw(st.sampled_from((
            torch.float16, torch.bfloat16, torch.float64, torch.int64,
            torch.int32, torch.uint8, torch.bool, torch.complex64)))
        state[key] = state[key].to(dtype)
        return state, how, (key, dtype)
    state[key] = draw(st.sampled_from((None, 3, 'w', [1.0], {'a': 1})))
    return state, how, key


@st.composite
def mutation(draw, ckpt):
    how = draw(st.sampled_from(('state', 'state', 'state', 'field', 'field',
                                'drop_field', 'unknown_field', 'bytes',
                                'wrapper', 'junk')))
    if how == 'state':
        student, kind, detail = mutate_state(draw, ckpt['student'])
        return dict(ckpt, student=student), kind, detail
    cfg = dict(ckpt['config'])
    if how == 'field':
        field = draw(st.sampled_from(INT_FIELDS + FLOAT_FIELDS +
                                     OTHER_FIELDS))
        old = cfg.get(field)
        value = draw(st.sampled_from(JUNK + (
            'low', 'high', 'base', 'small', 0.5) + (
                (float(old), ) if isinstance(old, int)
                and not isinstance(old, bool) else ())))
        cfg[field] = value
        return dict(ckpt, config=cfg), 'field', (field, value, old)
    if how == 'drop_field':
        field = draw(st.sampled_from(sorted(cfg)))
        value = cfg.pop(field)
        return dict(ckpt, config=cfg), 'drop_field', (field, value)
    if how == 'unknown_field':
        cfg['use_new_thing'] = draw(st.sampled_from((True, 0, 'x')))
        return dict(ckpt, config=cfg), 'unknown_field', 'use_new_thing'
    if how == 'bytes':
        buf = io.BytesIO()
        torch.save(ckpt, buf)
        data = buf.getvalue()
        cut = draw(st.sampled_from(('truncate', 'garbage', 'empty')))
        if cut == 'truncate':
            data = data[:int(len(data) * draw(st.floats(0.01, 0.99)))]
        elif cut == 'garbage':
            data = draw(st.binary(min_size=1, max_size=64))
        else:
            data = b''
        return data, 'bytes', cut
    if how == 'wrapper':
        student = ckpt['student']
        plain = {k.replace('module.', ''): v for k, v in student.items()}
        form = draw(st.sampled_from(('state_dict', 'model', 'backbone',
                                     'module_backbone', 'plain', 'nested')))
        obj = {
            'state_dict': dict(state_dict=student),
            'model': dict(model=student, config=ckpt['config']),
            'backbone': dict(ckpt, student={'backbone.' + k: v
                                            for k, v in plain.items()}),
            'module_backbone': dict(ckpt, student={
                'module.backbone.' + k: v for k, v in plain.items()}),
            'plain': {'module.' + k: v for k, v in plain.items()},
            'nested': dict(state_dict=ckpt),
        }[form]
        return obj, 'wrapper', form
    obj = draw(st.sampled_from(('config', 'student', 'top')))
    junk = draw(st.sampled_from((None, 3, 'x', [1], torch.zeros(2))))
    if obj == 'top':
        return junk, 'junk', obj
    return dict(ckpt, **{obj: junk}), 'junk', obj


# Words one of which the error must contain, per mutation kind.
PROBLEM_WORDS = {
    # 'contradicts': the weights disagree with the file's own config
    'drop': ('missing', 'contradicts'), 'add': ('unexpected', 'contradicts'),
    'rename': ('missing', 'unexpected', 'contradicts'),
    'reshape': ('shape', 'contradicts'),
    'dtype': ('dtype', ), 'nontensor': ('not a tensor', ),
    'bytes': ('truncated', 'corrupt'), 'unknown_field': ('use_new_thing', ),
    'wrapper': ('description', 'neither', 'missing', 'config', 'unexpected',
                'VECA weights'),
    'junk': ('config', 'state dict', 'weights', 'checkpoint dict')}
SAME, ANY, REFUSE = 'same', 'any', 'refuse'
COORD_RANGES = {'rope_shift_coords': 0, 'rope_jitter_coords': 1,
                'rope_rescale_coords': 1}


def is_num(v):
    return (isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(v))


def field_outcome(field, value, old):
    """What a released config with ``field=value`` (was ``old``) must do
    in an eval-mode forward: SAME outputs, ANY (another valid model) or
    REFUSE."""
    if field in COORD_RANGES:  # train-mode augmentation only
        ok = value is None or (is_num(value) and
                               COORD_RANGES[field] <= value <= 1e3)
        return SAME if ok else REFUSE
    if field == 'rope_zero_freqs_from':
        return SAME if value == old else ANY if value in (
            'low', 'high') else REFUSE
    if field == 'rope_p_zero_freqs':
        return (SAME if value == old else ANY) if is_num(value) and \
            0 <= value <= 1 else REFUSE
    if field == 'dropout':
        return SAME if value in (0, None) and value is not False else REFUSE
    if field == 'model_family':
        return REFUSE if value in ('base', 'small') else SAME
    if field == 'patch_embed_use_ln':
        return SAME if value is old else REFUSE
    if old is None:  # distill_output_dim of a file without projection
        return SAME if value is None else REFUSE
    same = is_num(value) and value == old and (
        field == 'mlp_ratio' or float(value).is_integer())
    return SAME if same else REFUSE


def expected_outputs(kind, detail, ref_model, ref_out):
    """(outcome, outputs): the outcome the file must have, and the outputs
    it must compute when it loads."""
    if kind == 'dtype':
        key, dtype = detail
        if not dtype.is_floating_point:
            return REFUSE, None
        state = ref_model.state_dict()
        name = key.replace('module.', '', 1)
        saved = state[name].clone()
        with torch.no_grad():
            state[name].copy_(saved.to(dtype).float())
            out = run(ref_model)
            state[name].copy_(saved)
        return SAME, out
    if kind == 'field':
        return field_outcome(*detail), ref_out
    if kind == 'drop_field':  # the released default: another valid model
        return ANY, ref_out
    if kind == 'wrapper':  # backbone. prefixes may be read or refused
        return ANY if detail != 'model' else REFUSE, ref_out
    return REFUSE, None


def run(model):
    x = torch.randn(1, model.in_channels, 32, 48,
                    generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        (fmap, cls), = model(x)
    return fmap, cls


def problem_words(kind, detail):
    if kind == 'field':
        return (detail[0], )
    if kind == 'drop_field':
        return (detail[0], 'missing')
    return PROBLEM_WORDS.get(kind)


@examples(60)
@given(data=st.data())
def test_mutated_checkpoint_loads_exactly_or_is_named(references, data):
    name = data.draw(st.sampled_from(FILES))
    ckpt, (ref_model, fmap, cls) = references[name]
    obj, kind, detail = data.draw(mutation(ckpt))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'mutated_' + name)
        if isinstance(obj, bytes):
            with open(path, 'wb') as f:
                f.write(obj)
        else:
            torch.save(obj, path)
        outcome, want = expected_outputs(kind, detail, ref_model,
                                         (fmap, cls))
        try:
            _, got_fmap, got_cls = features(path)
        except (ValueError, TypeError, CorruptCheckpointError) as e:
            msg = str(e)
            assert raised_by_veca_mm(e), msg
            assert outcome != SAME, f'{kind} {detail} refused: {msg}'
            assert path in msg, f'{kind} {detail}: no file name in: {msg}'
            words = problem_words(kind, detail)
            assert not words or any(w in msg for w in words), \
                f'{kind} {detail}: none of {words} in: {msg}'
            return
        assert outcome != REFUSE, f'{kind} {detail} loaded without a word'
        if kind == 'drop_field' or (outcome == ANY and kind != 'wrapper'):
            return
        torch.testing.assert_close(got_fmap, want[0], rtol=0, atol=0)
        torch.testing.assert_close(got_cls, want[1], rtol=0, atol=0)


# --------------------------------------------------------------------- #
# One regular test per class of failure the fuzzing found on ed0ec32.
def save(tmp_path, ckpt):
    path = tmp_path / 'mutated.pt'
    torch.save(ckpt, path)
    return str(path)


@pytest.mark.parametrize('dtype', [torch.int64, torch.bool,
                                   torch.complex64])
def test_non_floating_tensor_is_refused_half_loads(tmp_path, references,
                                                   dtype):
    """Were cast into the model's floats without a word."""
    ckpt, (model, fmap, cls) = references[FILES[0]]
    key = 'module.pos_alpha'
    bad = dict(ckpt, student=dict(ckpt['student'], **{
        key: ckpt['student'][key].to(dtype)}))
    path = save(tmp_path, bad)
    with pytest.raises(ValueError, match=f'{path}: pos_alpha hold '
                       f'{dtype}'):
        features(path)
    half = dict(ckpt, student=dict(ckpt['student'], **{
        key: ckpt['student'][key].half()}))
    _, got, _ = features(save(tmp_path, half))
    want = expected_outputs('dtype', (key, torch.float16), model, None)[1]
    torch.testing.assert_close(got, want[0], rtol=0, atol=0)


def test_non_tensor_value_is_named(tmp_path, references):
    """Was an AttributeError ('int' object has no attribute 'shape')."""
    ckpt = references[FILES[0]][0]
    path = save(tmp_path, dict(ckpt, student=dict(
        ckpt['student'], **{'module.pos_alpha': 3})))
    with pytest.raises(ValueError, match=f'{path}: pos_alpha is not a '
                       'tensor'):
        features(path)


@pytest.mark.parametrize('field, value', [
    ('rope_shift_coords', NAN),    # was accepted: NaN maps in training
    ('rope_p_zero_freqs', 2.0),    # was a VECA error without the file
    ('num_heads', 0),              # was ZeroDivisionError
    ('hidden_dim', 10**9),         # tried to allocate it
    ('num_layers', 10**6),         # built a million blocks
    ('mlp_ratio', 10**9),          # tried to allocate it
])
def test_junk_config_field_is_named_with_the_file(tmp_path, references,
                                                  field, value):
    ckpt = references[FILES[0]][0]
    path = save(tmp_path, dict(ckpt, config=dict(ckpt['config'],
                                                 **{field: value})))
    with pytest.raises(ValueError) as err:
        features(path)
    assert path in str(err.value) and field in str(err.value)


def test_damaged_pickle_is_named_not_a_traceback(tmp_path):
    """Found by the long run (seed 2026, 1000 mutations): damaged legacy
    pickle bytes made the weights-only unpickler raise IndexError (a
    memo write with an empty stack), which escaped as a traceback."""
    path = tmp_path / 'damaged.pt'
    path.write_bytes(b'\x80\x02q\x00.')  # BINPUT 0 with nothing on the stack
    with pytest.raises(CorruptCheckpointError, match='damaged.pt'):
        init_backbone(str(path))
