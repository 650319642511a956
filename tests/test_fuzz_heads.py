"""Property-based tests of the neck, heads, loss and depth metric with
their config arguments (issue #26): each builds and computes finite outputs
of the documented shape, or raises a ValueError/TypeError raised by veca_mm
naming the argument. Validity is the spec below, not the implementation.
"""
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from mmengine.registry import METRICS, MODELS, init_default_scope

import veca_mm  # noqa: F401

from .fuzzing import assert_clear_error, examples

NAN, INF = float('nan'), float('inf')
JUNK = (None, 'x', True, 1.5, 4.0, NAN, INF, -1, 0, [], {}, [None])


def is_int(v, lo=None):
    return isinstance(v, int) and not isinstance(v, bool) and (
        lo is None or v >= lo)


def is_num(v, lo=-INF, hi=INF, lo_open=False, hi_open=False):
    return (isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(v) and (v > lo if lo_open else v >= lo)
            and (v < hi if hi_open else v <= hi))


def norm_ok(v, none=False):
    return (none and v is None) or (isinstance(v, dict) and 'type' in v)


def ints_ok(v, lo=None):
    return isinstance(v, (list, tuple)) and bool(v) and all(
        is_int(x, lo) for x in v)


# name -> (base kwargs, {argument: (extra valid values, spec)}, forward)
def neck_forward(m, kw):
    outs = m(torch.randn(1, kw['in_channels'], 4, 4))
    scales = kw.get('scale_factors', (4.0, 2.0, 1.0, 0.5))
    assert len(outs) == len(scales)
    for out, s in zip(outs, scales):
        assert out.shape == (1, kw.get('out_channels', 256), int(4 * s),
                             int(4 * s))
        assert torch.isfinite(out).all()


def depth_forward(m, kw):
    chans = kw.get('in_channels', (8, 8))
    maps = [torch.randn(2, c, 4 >> i, 4 >> i) for i, c in enumerate(chans)]
    out = m(maps)
    assert out.shape == (2, 1, 8, 8) and torch.isfinite(out).all()
    assert (out > 0).all() and (out <= m.max_depth).all()


def probe_forward(m, kw):
    x = torch.randn(2, kw['in_channels'], 4, 4)
    out = m([(x, torch.randn(2, x.shape[1])) if m.concat_cls_token else x])
    assert torch.isfinite(out).all() and out.shape[0] == 2


def loss_forward(m, kw):
    gt = torch.rand(2, 1, 4, 4) * 5 + 0.5
    loss = m(torch.rand(2, 1, 4, 4) + 0.5, gt)
    assert loss.dim() == 0 and torch.isfinite(loss)


def metric_forward(m, kw):
    sample = dict(pred_depth_map=dict(data=torch.rand(1, 8, 8) * 4 + 1),
                  gt_depth_map=dict(data=torch.rand(1, 8, 8) * 4 + 1),
                  img_path='x.png')
    m.process({}, [sample])
    res = m.compute_metrics(m.results)
    assert all(math.isfinite(v) for v in res.values())


CASES = {
    'SimplePyramidNeck': (
        dict(type='SimplePyramidNeck', in_channels=8, out_channels=4), {
            'in_channels': ((16, ), lambda v: is_int(v, 1) and v % 4 == 0),
            'out_channels': ((2, 8), lambda v: is_int(v, 1)),
            'scale_factors': (((1.0, ), [4.0, 0.25], (0.5, 3.0)),
                              lambda v: isinstance(v, (list, tuple))
                              and bool(v) and all(
                                  not isinstance(s, bool) and s in
                                  (4.0, 2.0, 1.0, 0.5, 0.25) for s in v)),
            'norm_cfg': ((dict(type='BN'), dict(type='GN', num_groups=3)),
                         lambda v: norm_ok(v) and v.get('num_groups') != 3),
        }, neck_forward),
    'VECADepthHead': (
        dict(type='VECADepthHead', in_channels=(8, 8), in_index=(0, 1),
             channels=4, max_depth=10.0), {
            'in_channels': (((8, 8), [4, 4]), lambda v: ints_ok(v, 1)
                            and len(v) == 2),
            'channels': ((2, ), lambda v: is_int(v, 1)),
            'max_depth': ((1e-3, 80.0), lambda v: is_num(v, 0, lo_open=True)),
            'dropout_ratio': ((0.1, ), lambda v: is_num(v, 0, 1,
                                                        hi_open=True)),
            'align_corners': ((True, False), lambda v: isinstance(v, bool)),
            'norm_cfg': ((dict(type='BN'), ), lambda v: norm_ok(v, True)),
        }, depth_forward),
    'LinearProbeHead': (
        dict(type='LinearProbeHead', in_channels=8, num_classes=3,
             concat_cls_token=False), {
            'in_channels': ((8, ), lambda v: v == 8),
            'num_classes': ((1, 5), lambda v: is_int(v, 1)),
            'concat_cls_token': ((False, ), lambda v: isinstance(v, bool)),
            'in_index': ((-1, 0), lambda v: v in (-1, 0) and is_int(v)),
            'dropout_ratio': ((0.5, ), lambda v: is_num(v, 0, 1,
                                                        hi_open=True)),
            'norm_cfg': ((dict(type='BN'), ), lambda v: norm_ok(v)),
        }, probe_forward),
    'LinearDepthProbeHead': (
        dict(type='LinearDepthProbeHead', in_channels=8, n_bins=4,
             concat_cls_token=False), {
            'n_bins': ((2, 16), lambda v: is_int(v, 2)),
            'min_depth': ((0.0, 1.0), lambda v: is_num(v, 0, 10,
                                                       hi_open=True)),
            'max_depth': ((1.0, 80.0), lambda v: is_num(v, 1e-3,
                                                        lo_open=True)),
            'upsample': ((1, 2), lambda v: is_int(v, 1)),
        }, probe_forward),
    'MaskedSiLogLoss': (
        dict(type='MaskedSiLogLoss'), {
            'min_depth': ((0.0, 0.1), lambda v: is_num(v, 0)),
            'max_depth': ((None, 10.0), lambda v: v is None or is_num(
                v, 1e-3, lo_open=True)),
            'variance_focus': ((0.5, 1.0), lambda v: is_num(v, 0, 1)),
            'scale': ((1.0, ), lambda v: is_num(v, 0, lo_open=True)),
            'loss_weight': ((0.5, -1.0), lambda v: is_num(v)),
            'eps': ((1e-3, ), lambda v: is_num(v, 0, lo_open=True)),
            'loss_name': (('loss_d', 'depth'), lambda v: isinstance(v, str)
                          and v.startswith('loss_')),
        }, loss_forward),
    'VECADepthMetric': (
        dict(type='VECADepthMetric'), {
            'min_depth': ((0.0, 0.5), lambda v: is_num(v, 0, 10,
                                                       hi_open=True)),
            'max_depth': ((8.0, ), lambda v: is_num(v, 1e-3, lo_open=True)),
            'crop': (('eigen', 'garg', 'nyu'), lambda v: v in (
                None, 'eigen', 'garg') and not isinstance(v, bool)),
            'clip_pred': ((True, ), lambda v: isinstance(v, bool)),
            'depth_metrics': ((['d1', 'rmse'], ('silog', ), 'd1'),
                              lambda v: v is None or (
                                  isinstance(v, (list, tuple)) and
                                  all(m in ('d1', 'rmse', 'silog')
                                      for m in v))),  # None: all
            'depth_scale': ((None, 256.0), lambda v: v is None or is_num(
                v, 0, lo_open=True)),
        }, metric_forward),
}


@st.composite
def one_argument(draw):
    name = draw(st.sampled_from(sorted(CASES)))
    base, args, _ = CASES[name]
    arg = draw(st.sampled_from(sorted(args)))
    extra, _ = args[arg]
    return name, arg, draw(st.sampled_from(JUNK + tuple(extra)))


@examples(120)
@given(case=one_argument())
def test_heads_build_and_run_or_name_the_argument(case):
    init_default_scope('mmseg')
    name, arg, value = case
    base, args, forward = CASES[name]
    kw = dict(base, **{arg: value})
    registry = METRICS if name == 'VECADepthMetric' else MODELS
    if not args[arg][1](value):
        with pytest.raises((ValueError, TypeError)) as err:
            registry.build(kw)
        assert_clear_error(err.value, arg)
        return
    module = registry.build(kw)
    if isinstance(module, torch.nn.Module):
        module.eval()
        with torch.no_grad():
            forward(module, kw)
    else:
        forward(module, kw)


def test_depth_head_without_channels_is_named():
    """Found by the long run (seed 2026): ``channels=None`` reached
    ``nn.Conv2d`` inside mmseg's BaseDecodeHead (a torch TypeError); the
    linear probes may leave it out, the FPN depth head may not."""
    init_default_scope('mmseg')
    base = dict(CASES['VECADepthHead'][0], channels=None)
    with pytest.raises((ValueError, TypeError)) as err:
        MODELS.build(base)
    assert_clear_error(err.value, 'channels')
