"""Property-based tests of ``VECA(**kwargs)`` and its forward (issue #26).

Property: with any arguments, ``VECA`` either builds and its forward returns
exactly ``len(out_indices)`` finite maps of the documented shape (or refuses
a bad *input* with a ValueError naming it), or the constructor raises a
ValueError/TypeError raised by veca_mm code whose message names the argument.
Whether a set of arguments is valid is decided by :func:`violations`, a
specification written from the docstring, independent of the
implementation: an invalid value never builds.
"""
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from veca_mm.models.backbones import VECA

from .fuzzing import assert_clear_error, examples

BOOL_ARGS = ('patch_norm', 'final_norm', 'output_cls_token', 'coord_aug',
             'distill_proj', 'with_cp', 'frozen')
ARCH_INTS = ('embed_dims', 'num_layers', 'num_heads', 'num_cores')
NAN, INF = float('nan'), float('inf')
# Values that are wrong for almost every argument (no huge ints: a huge
# patch_size or in_channels is valid and would allocate gigabytes).
JUNK = (None, 'x', '8', True, False, 1.5, 4.0, NAN, INF, -INF, -1, 0, [],
        (), {}, [None])
ARCH_JUNK = {'num_cores': (2000, ), 'embed_dims': (3, 6),
             'num_heads': (3, ), 'mlp_ratio': (0.01, )}


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v):
    return (isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(v))


def in_range(v, lo, hi, hi_open=False):
    return is_num(v) and lo <= v and (v < hi if hi_open else v <= hi)


# --------------------------------------------------------------------- #
# The specification (from the VECA docstring)
def arch_violations(arch):
    """Names at fault in an arch dict (``[]``: valid)."""
    if not isinstance(arch, dict):
        return ['arch']
    keys = set(ARCH_INTS) | {'mlp_ratio'}
    if not keys <= set(arch) or set(arch) - keys - {'distill_dims'}:
        return ['arch']
    bad = [k for k in ARCH_INTS if not is_int(arch[k]) or arch[k] < 1]
    if not bad and arch['num_cores'] > 1000:
        bad.append('num_cores')
    D, h = arch['embed_dims'], arch['num_heads']
    if not bad and (D % h or (D // h) % 4):
        bad += ['embed_dims', 'num_heads']
    r = arch['mlp_ratio']
    if not is_num(r) or r <= 0 or (not bad and int(D * r) < 1):
        bad.append('mlp_ratio')
    dd = arch.get('distill_dims')
    if dd is not None and (not is_int(dd) or dd < 1):
        bad.append('distill_dims')
    return bad


def budget_ok(b, chunk, M, L):
    spec = (b, ) if is_int(b) else b
    if not isinstance(spec, (list, tuple)) or not spec or L % len(spec):
        return False
    return all(is_int(c) and c % chunk == 0 and chunk <= c <= M
               for c in spec)


def train_budgets_ok(cfg, chunk, M, L):
    if cfg is None:
        return True
    if not isinstance(cfg, dict) or 'budgets' not in cfg or \
            set(cfg) - {'budgets', 'weights', 'seed'}:
        return False
    budgets, weights = cfg['budgets'], cfg.get('weights')
    if not isinstance(budgets, (list, tuple)) or not budgets or not all(
            budget_ok(b, chunk, M, L) for b in budgets):
        return False
    if weights is not None and not (
            isinstance(weights, (list, tuple)) and len(weights) ==
            len(budgets) and all(is_num(w) and w >= 0 for w in weights)
            and sum(weights) > 0):
        return False
    return is_int(cfg.get('seed', 0))


def init_cfg_ok(cfg):
    entries = cfg if isinstance(cfg, list) else [cfg]
    if cfg is None:
        return True
    pretrained = 0
    for c in entries:
        if not isinstance(c, dict) or not isinstance(c.get('type'),
                                                      (str, type)):
            return False
        if c['type'] == 'Pretrained':
            pretrained += 1
            if 'checkpoint' not in c or set(c) - {
                    'type', 'checkpoint', 'prefix', 'map_location'}:
                return False
    return pretrained <= 1


def normalized_indices(out_indices, L):
    idx = [out_indices] if is_int(out_indices) else out_indices
    if not isinstance(idx, (list, tuple)) or not idx or not all(
            is_int(i) and -L <= i < L for i in idx):
        return None
    norm = [i % L for i in idx]
    return norm if norm == sorted(set(norm)) else None


def scalar_violations(kw):
    """Names at fault among the arguments that do not depend on the arch."""
    bad = [n for n in ('patch_size', 'in_channels', 'core_chunk')
           if n in kw and (not is_int(kw[n]) or kw[n] < 1)]
    bad += [n for n in BOOL_ARGS if n in kw and not isinstance(kw[n], bool)]
    for name, lo in (('coord_shift', 0), ('coord_jitter', 1),
                     ('coord_rescale', 1)):
        if kw.get(name) is not None and not in_range(kw[name], lo, 1e3):
            bad.append(name)
    if not in_range(kw.get('rope_zero_fraction', 0.125), 0, 1):
        bad.append('rope_zero_fraction')
    if kw.get('rope_zero_from', 'low') not in ('low', 'high'):
        bad.append('rope_zero_from')
    if not in_range(kw.get('drop_path_rate', 0.), 0, 1, hi_open=True):
        bad.append('drop_path_rate')
    if not init_cfg_ok(kw.get('init_cfg')):
        bad.append('init_cfg')
    return bad


def violations(kw):
    """The argument names at fault (``[]``: the arguments are valid)."""
    bad = scalar_violations(kw)
    arch_bad = arch_violations(kw['arch'])
    if arch_bad:
        return bad + arch_bad + ['arch']
    arch = kw['arch']
    M, L = arch['num_cores'], arch['num_layers']
    chunk = kw.get('core_chunk', 8)
    if 'core_chunk' in bad or M % chunk:
        return bad + ['core_chunk', 'num_cores']
    fs = kw.get('frozen_stages', -1)
    if not is_int(fs) or not -1 <= fs <= L:
        bad.append('frozen_stages')
    norm = normalized_indices(kw.get('out_indices', -1), L)
    if norm is None:
        bad.append('out_indices')
    if kw.get('core_budgets') is not None and not budget_ok(
            kw['core_budgets'], chunk, M, L):
        bad.append('core_budgets')
    if not train_budgets_ok(kw.get('train_core_budgets'), chunk, M, L):
        bad.append('train_core_budgets')
    # combinations (either side may be the one the error names)
    if kw.get('distill_proj') is True and (kw.get('final_norm') is False
                                           or norm and L - 1 not in norm):
        bad.append('distill_proj')
    if kw.get('frozen') is True and any(kw.get(k, d) != d for k, d in (
            ('train_core_budgets', None), ('drop_path_rate', 0.),
            ('with_cp', False), ('frozen_stages', -1))):
        bad.append('frozen')
    return bad


# --------------------------------------------------------------------- #
# Strategies: a tiny valid arch, each argument valid or junk
@st.composite
def tiny_arch(draw):
    heads = draw(st.integers(1, 2))
    D = heads * draw(st.sampled_from((4, 8)))
    chunk = draw(st.sampled_from((1, 2, 4, 8)))
    arch = dict(embed_dims=D, num_layers=draw(st.integers(1, 4)),
                num_heads=heads,
                mlp_ratio=draw(st.sampled_from((0.5, 1.0, 2.0, 2.66667))),
                num_cores=chunk * draw(st.integers(1, 3)))
    dd = draw(st.sampled_from((None, D, 8, 12)))
    if dd is not None:
        arch['distill_dims'] = dd
    return arch, chunk


def budget_specs(chunk, M, L):
    one = st.integers(1, M // chunk).map(lambda k: k * chunk)
    stages = st.sampled_from([d for d in range(1, L + 1) if L % d == 0])
    return one | stages.flatmap(
        lambda n: st.lists(one, min_size=n, max_size=n).map(tuple))


def valid_value(name, arch, chunk):
    """A strategy of valid values of argument ``name`` for this arch."""
    L, M = arch['num_layers'], arch['num_cores']
    layer = st.integers(-L, L - 1)
    return {
        'patch_size': st.integers(1, 16),
        'in_channels': st.integers(1, 4),
        'core_chunk': st.just(chunk),
        'out_indices': layer | st.sets(st.integers(0, L - 1), min_size=1)
        .map(lambda s: tuple(sorted(s))),
        'core_budgets': st.none() | budget_specs(chunk, M, L),
        'train_core_budgets': st.none() | st.builds(
            lambda b, seed: dict(budgets=b, weights=[1.0] * len(b),
                                 seed=seed),
            st.lists(budget_specs(chunk, M, L), min_size=1, max_size=3),
            st.integers(0, 2**31)),
        'coord_shift': st.none() | st.floats(0, 1),
        'coord_jitter': st.none() | st.floats(1, 3),
        'coord_rescale': st.none() | st.floats(1, 3),
        'rope_zero_fraction': st.floats(0, 1),
        'rope_zero_from': st.sampled_from(('low', 'high')),
        'drop_path_rate': st.floats(0, 0.5),
        'frozen_stages': st.integers(-1, L),
        'init_cfg': st.sampled_from((None, dict(type='Kaiming',
                                                layer='Conv2d'))),
    }.get(name, st.booleans())


def junk_value(name, arch, chunk):
    """Values meant to be wrong for ``name`` (the spec decides)."""
    L, M = arch['num_layers'], arch['num_cores']
    specific = {
        'out_indices': (L, -L - 1, 10**9, (0, 0), tuple(range(L))[::-1],
                        [1.0], {0: 1}, '0', [[0]]),
        'core_budgets': (M + chunk, 10**9, chunk + 0.5, (chunk, ) * (L + 1),
                         [chunk, None], 'abc', float(chunk)),
        'core_chunk': (M + 1, 3, 10**9, float(chunk)),
        'train_core_budgets': (
            dict(), dict(budgets=[]), dict(budgets=chunk),
            dict(budgets=[chunk], weights=[NAN]),
            dict(budgets=[chunk], weights=[-1.0]),
            dict(budgets=[chunk], weights=[0]),
            dict(budgets=[chunk], weights=[1, 2]),
            dict(budgets=[chunk], weights='a'),
            dict(budgets=[chunk], seed=1.5), dict(budgets=[chunk], seed='x'),
            dict(budgets=[chunk], seed=None), dict(budgets=[chunk], foo=1),
            dict(budgets=[M + chunk])),
        'coord_jitter': (0.5, 1e9),
        'coord_rescale': (0.5, 1e9),
        'coord_shift': (1e9, -0.1),
        'drop_path_rate': (1.0, -0.1),
        'frozen_stages': (-2, L + 1, 10**9),
        'rope_zero_from': ('mid', 'LOW'),
        'init_cfg': (dict(), dict(type='Pretrained'),
                     dict(type='Pretrained', checkpoint='x.pth', foo=1),
                     [dict(type='Pretrained', checkpoint='a'),
                      dict(type='Pretrained', checkpoint='b')], [5]),
    }.get(name, ())
    return st.sampled_from(JUNK + specific)


@st.composite
def junk_arch(draw, arch):
    how = draw(st.sampled_from(('value', 'value', 'drop', 'add', 'type')))
    arch = dict(arch)
    if how == 'type':
        return draw(st.sampled_from(('tiny', 'Base', 5, None, [arch])))
    key = draw(st.sampled_from(ARCH_INTS + ('mlp_ratio', 'distill_dims')))
    if how == 'drop':
        arch.pop(key, None)
    elif how == 'add':
        arch['depth'] = 3
    else:
        arch[key] = draw(st.sampled_from(JUNK + ARCH_JUNK.get(key, ())))
    return arch


OTHER_ARGS = ('patch_size', 'in_channels', 'core_chunk', 'out_indices',
              'core_budgets', 'train_core_budgets', 'coord_shift',
              'coord_jitter', 'coord_rescale', 'rope_zero_fraction',
              'rope_zero_from', 'drop_path_rate', 'frozen_stages',
              'init_cfg') + BOOL_ARGS


@st.composite
def veca_kwargs(draw):
    arch, chunk = draw(tiny_arch())
    junk = draw(st.sets(st.sampled_from(('arch', ) + OTHER_ARGS),
                        max_size=draw(st.sampled_from((0, 0, 1, 2)))))
    kw = dict(arch=draw(junk_arch(arch)) if 'arch' in junk else arch)
    if chunk != 8:
        kw['core_chunk'] = chunk
    for name in OTHER_ARGS:
        if name in junk:
            kw[name] = draw(junk_value(name, arch, chunk))
        elif draw(st.integers(0, 2)) == 0:
            kw[name] = draw(valid_value(name, arch, chunk))
    return kw


# --------------------------------------------------------------------- #
def expected_maps(model, x):
    """``[(channels, has_cls)]`` per output, and the map size."""
    P = model.patch_size
    hw = (math.ceil(x.shape[2] / P), math.ceil(x.shape[3] / P))
    last = model.num_layers - 1
    widths = [model.distill_dims if (i == last and model.distill_proj and
                                     model.distill_dims) else
              model.embed_dims for i in model.out_indices]
    return widths, hw


def check_forward(model, kw, x, train, grad):
    model.train(train)
    with torch.set_grad_enabled(grad):
        bad_input = (x.dim() != 4 or x.shape[1] != model.in_channels or
                     min(x.shape[-2:]) < model.patch_size)
        if bad_input:
            with pytest.raises(ValueError) as err:
                model(x)
            assert_clear_error(err.value, 'in_channels', 'patch')
            return
        outs = model(x)
    n = 1 if isinstance(kw.get('out_indices', -1), int) else \
        len(kw['out_indices'])
    assert isinstance(outs, tuple) and len(outs) == n
    widths, hw = expected_maps(model, x)
    for out, width in zip(outs, widths):
        if model.output_cls_token:
            out, cls = out
            assert cls.shape == (x.shape[0], width)
            assert torch.isfinite(cls).all()
        assert out.shape == (x.shape[0], width, *hw)
        assert torch.isfinite(out).all()


inputs = st.tuples(st.sampled_from((4, 4, 4, 3, 5)), st.integers(1, 2),
                   st.integers(1, 4), st.integers(1, 32), st.integers(1, 32))


@examples(150)
@given(kw=veca_kwargs(), shape=inputs, train=st.booleans(),
       grad=st.booleans())
def test_veca_builds_and_runs_or_names_the_argument(kw, shape, train, grad):
    bad = violations(kw)
    if bad:
        with pytest.raises((ValueError, TypeError)) as err:
            VECA(**kw)
        assert_clear_error(err.value, *bad)
        return
    model = VECA(**kw)
    rank, B, C, H, W = shape
    full = (B, C, H, W)
    x = torch.randn(full[:rank] if rank <= 4 else full + (1, ))
    check_forward(model, kw, x, train, grad)


def test_unknown_argument_is_named():
    with pytest.raises(TypeError, match='core_budget'):
        VECA(arch=dict(embed_dims=8, num_layers=1, num_heads=2,
                       mlp_ratio=1.0, num_cores=8), core_budget=8)


# --------------------------------------------------------------------- #
# One regular test per class of failure the fuzzing found on ed0ec32.
TINY = dict(embed_dims=8, num_layers=2, num_heads=2, mlp_ratio=1.0,
            num_cores=8)


@pytest.mark.parametrize('key, value', [
    ('num_heads', 0),        # was ZeroDivisionError
    ('embed_dims', -8),      # was a torch error at build
    ('num_layers', 0),       # was named as out_indices
    ('mlp_ratio', 0.01),     # was a 0-wide FFN, built silently
    ('mlp_ratio', NAN),      # was "cannot convert float NaN to integer"
    ('num_cores', 2000),     # more cores than initial positions to draw
    ('num_cores', 0),        # was named as core_budgets
])
def test_degenerate_arch_numbers_name_the_key(key, value):
    with pytest.raises((ValueError, TypeError)) as err:
        VECA(arch=dict(TINY, **{key: value}))
    assert_clear_error(err.value, key)


@pytest.mark.parametrize('name, value', [
    ('patch_size', 4.0), ('in_channels', True), ('core_chunk', 2.0),
    ('with_cp', 'yes'), ('patch_norm', 1), ('frozen_stages', '1'),
    ('rope_zero_fraction', '0.5'), ('drop_path_rate', {}),
    ('out_indices', None), ('out_indices', 1.0), ('core_budgets', 8.0),
])
def test_wrong_kinds_are_type_errors_naming_the_argument(name, value):
    """Were TypeErrors from an operator several frames down (not naming
    the argument), or accepted (a float width, a truthy string)."""
    with pytest.raises(TypeError) as err:
        VECA(arch=TINY, **{name: value})
    assert_clear_error(err.value, name)


@pytest.mark.parametrize('kwargs, name', [
    (dict(drop_path_rate=1.5), 'drop_path_rate'),   # failed in training
    (dict(drop_path_rate=-0.1), 'drop_path_rate'),
    (dict(coord_shift=NAN), 'coord_shift'),         # NaN maps in training
    (dict(coord_rescale=1e9), 'coord_rescale'),     # inf positions
    (dict(train_core_budgets=dict(budgets=[8], weights=[NAN])), 'weights'),
    (dict(train_core_budgets=dict(budgets=[8], seed=1.5)), 'seed'),
    (dict(train_core_budgets=dict(budgets=8)), 'budgets'),
    (dict(init_cfg=dict(type='Pretrained')), 'checkpoint'),  # at init
    (dict(init_cfg='ckpt.pth'), 'init_cfg'),
])
def test_out_of_range_is_refused_at_build(kwargs, name):
    """Were accepted at build and failed (or went NaN) at the first
    training forward or at init_weights, after the runner was built."""
    with pytest.raises((ValueError, TypeError)) as err:
        VECA(arch=TINY, **kwargs)
    assert_clear_error(err.value, name)


@pytest.mark.parametrize('out_indices', [(1, 1), (-1, 1), (1, 0)])
def test_out_indices_each_layer_once_in_order(out_indices):
    """(1, 1) returned one map for two requested; (1, 0) returned them in
    layer order, not the order asked for."""
    with pytest.raises(ValueError) as err:
        VECA(arch=TINY, out_indices=out_indices)
    assert_clear_error(err.value, 'out_indices')
    outs = VECA(arch=TINY, out_indices=(0, -1)).eval()(
        torch.randn(1, 3, 16, 16))
    assert len(outs) == 2
