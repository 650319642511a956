"""Budget choice, core drift, the nested study's reuse rule and its hard set.

One tiny VECA (``TINY_ARCH``: 16 cores in chunks of 8, 4 layers) is
fine-tuned for a few iterations from a saved initialisation; both
checkpoints are shared by the tests.
"""
import argparse
import csv
import json

import numpy as np
import pytest
import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope

from .conftest import REPO, TINY_ARCH, load_tool

CFG = REPO / 'configs/mini/upernet_veca-t_1xb4-600_mini-ade20k-96x96.py'
ITERS = 15


def arch_opts():
    return [f'model.backbone.arch.{k}={v}' for k, v in TINY_ARCH.items()] + [
        'model.backbone.core_budgets=16',
        'model.backbone.train_core_budgets.budgets=[8,16]',
        'model.backbone.train_core_budgets.weights=[1,1]',
        f"model.neck.in_channels={TINY_ARCH['embed_dims']}",
        f"optim_wrapper.paramwise_cfg.num_layers={TINY_ARCH['num_layers']}",
    ]


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """(tmp, opts, init checkpoint, fine-tuned checkpoint)."""
    from mmengine.runner import Runner
    tmp = tmp_path_factory.mktemp('choose')
    load_tool('tools/dataset_converters/make_mini_ade20k.py'
              ).make_mini_ade20k(str(tmp), num_train=4, num_val=2, size=64,
                                 verbose=False)
    root = tmp / 'ADEChallengeData2016'
    opts = arch_opts()
    for k in ('train', 'val', 'test'):
        opts += [f'{k}_dataloader.dataset.data_root={root}',
                 f'{k}_dataloader.num_workers=0',
                 f'{k}_dataloader.persistent_workers=False']
    cfg = Config.fromfile(CFG)
    ns = argparse.Namespace()  # the tools' own --cfg-options parsing
    DictAction(option_strings=[], dest='o')(None, ns, opts)
    cfg.merge_from_dict(ns.o)
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    init = tmp / 'init.pth'
    torch.save(dict(state_dict=model.state_dict(), meta={}), init)
    cfg.merge_from_dict({
        'load_from': str(init), 'work_dir': str(tmp / 'ft'),
        'train_cfg.max_iters': ITERS, 'train_cfg.val_interval': ITERS,
        'default_hooks.checkpoint.interval': ITERS,
        'param_scheduler': [dict(type='ConstantLR', factor=1.0,
                                 by_epoch=False)],
        'log_level': 'WARNING'})
    Runner.from_cfg(cfg).train()
    ft = tmp / 'ft' / f'iter_{ITERS}.pth'
    assert ft.is_file()
    return tmp, opts, init, ft


def read_csv(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def test_choose_budget_front_target_and_resume(trained, capsys):
    tmp, opts, _, ckpt = trained
    tool = load_tool('tools/analysis_tools/choose_budget.py')
    wd = tmp / 'choose'
    base = [str(CFG), str(ckpt), '--work-dir', str(wd), '--repeats', '1',
            '--cfg-options'] + opts
    first = tool.main(base[:2] + ['--latency-ms', '1e9'] + base[2:])
    scheds = {r['schedule'] for r in first['rows']}
    # uniform budgets, both 2-stage mixes, monotone 4-stage mixes; never a
    # schedule twice under two spellings, never a non-monotone one
    assert {(8, ), (16, ), (8, 16), (16, 8), (16, 16, 16, 8),
            (8, 8, 8, 16), (16, 8, 8, 8), (8, 16, 16, 16)} == scheds
    assert len(first['measured']) == len(scheds) == 8
    rows = read_csv(wd / 'choose_budget.csv')
    assert {'schedule', 'latency_ms', 'backbone_ms', 'model_ms', 'mIoU',
            'backbone_gflops', 'pareto'} <= set(rows[0])
    flops = {r['schedule']: float(r['backbone_gflops']) for r in rows}
    assert flops['8'] < flops['8/16'] < flops['16']
    assert (wd / 'choose_budget.png').stat().st_size > 5000
    # the Pareto flags are right: flagged rows are undominated, others not
    lat = [float(r['latency_ms']) for r in rows]
    miou = [float(r['mIoU']) for r in rows]

    def dominated(i):
        return any(lat[j] <= lat[i] and miou[j] >= miou[i] and
                   (lat[j] < lat[i] or miou[j] > miou[i])
                   for j in range(len(rows)) if j != i)
    assert [r['pareto'] == '1' for r in rows] == [
        not dominated(i) for i in range(len(rows))]
    # the model was fine-tuned: budgets do not all score the same
    assert max(miou) > min(miou)

    # a target between the fastest and the slowest: resumes, measures
    # nothing, and picks the best metric within the target
    target = float(np.median(lat))
    capsys.readouterr()
    res = tool.main(base[:2] + ['--latency-ms', str(target)] + base[2:])
    out = capsys.readouterr().out
    assert res['measured'] == []
    chosen = res['chosen']
    assert chosen['latency_ms'] <= target
    best = max(m for l_, m in zip(lat, miou) if l_ <= target)
    assert chosen['mIoU'] == pytest.approx(best)
    s = chosen['schedule']
    assert f'--core-budgets {" ".join(map(str, s))}' in out
    assert 'core_budgets=(' in out

    # too small a target: says so and names the fastest schedule
    capsys.readouterr()
    res = tool.main(base[:2] + ['--latency-ms', '0.001'] + base[2:])
    out = capsys.readouterr().out
    fastest = min(res['rows'], key=lambda r: r['latency_ms'])
    assert res['chosen'] is None
    assert 'no schedule fits 0.001 ms: the fastest is ' + '/'.join(
        map(str, fastest['schedule'])) in out

    # delete two rows: only those are measured again
    kept = rows[:2] + rows[4:]
    with open(wd / 'choose_budget.csv', 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(kept)
    res = tool.main(base[:2] + ['--latency-ms', '1e9'] + base[2:])
    gone = {tuple(int(v) for v in r['schedule'].split('/'))
            for r in rows[2:4]}
    assert set(res['measured']) == gone and len(res['measured']) == 2
    assert len(read_csv(wd / 'choose_budget.csv')) == 8
    meta = json.loads((wd / 'choose_budget.json').read_text())
    assert sorted(meta['measured_this_run']) == sorted(
        '/'.join(map(str, g)) for g in gone)

    # other settings over the same CSV: refused, with the fix named
    with pytest.raises(SystemExit, match='--fresh'):
        tool.main(base[:2] + ['--latency-ms', '1', '--max-images', '1'] +
                  base[2:])


def test_choose_budget_space_rules():
    tool = load_tool('tools/analysis_tools/choose_budget.py')
    # 64 cores, 12 layers: the monotone space is too big for auto
    space = tool.monotone_schedules(64, 8, 12)
    assert len(space) > 100 and len(set(space)) == len(space)
    assert tool.canonical((16, 16, 16, 16), 12) == (16, )
    assert tool.canonical((32, 32, 8, 8), 12) == (32, 8)
    assert tool.canonical((32, 16, 8, 8), 12) == (32, 16, 8, 8)
    assert tool.greedy_next((16, 8, 16), 8) == [(8, 8, 16), (16, 8, 8)]
    # 3 layers split into neither 2 nor 4 stages: uniform budgets only
    assert tool.monotone_schedules(16, 8, 3) == [(8, ), (16, )]
    with pytest.raises(SystemExit, match='use cpu, cuda or cuda:N'):
        tool.select_device('tpu')
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit, match='no CUDA device'):
            tool.select_device('cuda:0')


def test_core_drift_self_and_after_finetuning(trained):
    tmp, opts, init, ft = trained
    tool = load_tool('tools/analysis_tools/core_drift.py')
    common = ['--config', str(CFG), '--num-images', '2', '--cfg-options'
              ] + opts
    same = tool.main([str(ft), str(ft), '--out-dir', str(tmp / 'cd0')] +
                     common)
    assert same['bank']['cosine_min'] == pytest.approx(1.0, abs=1e-5)
    assert same['bank']['displacement_max'] == pytest.approx(0.0, abs=1e-6)
    assert len(same['layers']) == TINY_ARCH['num_layers']
    for r in same['layers']:
        assert r['cosine_mean'] == pytest.approx(1.0, abs=1e-5)
        assert r['displacement_mean'] == pytest.approx(0.0, abs=1e-6)
        assert r['topk_iou_min'] == pytest.approx(1.0)

    moved = tool.main([str(init), str(ft), '--out-dir', str(tmp / 'cd1')] +
                      common)
    assert moved['bank']['cosine_mean'] < 1 - 1e-5  # self: 1 +- 1e-7
    assert moved['bank']['displacement_max'] > 1e-4
    layers = moved['layers']
    assert min(r['cosine_mean'] for r in layers) < 0.99
    assert min(r['topk_iou_mean'] for r in layers) < 0.95
    assert all(0 <= r['topk_iou_mean'] <= 1 for r in layers)
    rows = read_csv(tmp / 'cd1' / 'core_drift.csv')
    n = TINY_ARCH['num_cores']
    assert len(rows) == n * (1 + TINY_ARCH['num_layers'])
    assert (tmp / 'cd1' / 'core_drift.png').stat().st_size > 3000
    assert 0 < moved['chance_topk_iou'] < 0.2


def test_nested_study_announces_or_refuses_old_runs(tmp_path, capsys):
    tool = load_tool('tools/analysis_tools/nested_study.py')
    wd = tmp_path / 'fixed'
    setting = dict(config='c.py', iters=10, data_root='d', options=[])
    assert tool.trained_before(str(wd), setting, False, 'fixed') is False
    wd.mkdir()
    (wd / 'last_checkpoint').write_text(str(wd / 'iter_10.pth'))
    # an old run without --reuse: retrained, and said so
    assert tool.trained_before(str(wd), setting, False, 'fixed') is False
    assert 'training a fresh one' in capsys.readouterr().out
    # --reuse of a run with unknown or other settings: refused
    with pytest.raises(SystemExit, match='unknown settings'):
        tool.trained_before(str(wd), setting, True, 'fixed')
    (wd / 'study_setting.json').write_text(json.dumps(dict(setting,
                                                          iters=20)))
    with pytest.raises(SystemExit, match='drop --reuse'):
        tool.trained_before(str(wd), setting, True, 'fixed')
    (wd / 'study_setting.json').write_text(json.dumps(setting))
    assert tool.trained_before(str(wd), setting, True, 'fixed') is True
    assert 'reusing the run' in capsys.readouterr().out


def test_hard_mini_ade20k_is_real_ade_and_scene_dependent(tmp_path):
    gen = load_tool('tools/dataset_converters/make_mini_ade20k_hard.py')
    root = gen.make_mini_ade20k_hard(str(tmp_path), num_train=6, num_val=2,
                                     size=96, verbose=False)
    init_default_scope('mmseg')
    from mmseg.datasets import ADE20KDataset
    ds = ADE20KDataset(
        data_root=root, data_prefix=dict(img_path='images/training',
                                         seg_map_path='annotations/training'),
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadAnnotations', reduce_zero_label=True)])
    assert len(ds) == 6
    seen = set()
    indoor_ctx = {c[0][0] for c in gen.CONTEXT}
    outdoor_ctx = {c[1][0] for c in gen.CONTEXT}
    for i in range(len(ds)):
        gt = ds[i]['gt_seg_map']
        vals = set(np.unique(gt).tolist()) - {255}
        raw = {v + 1 for v in vals}
        assert raw <= set(gen.CLASSES)
        seen |= raw
        indoor = bool(raw & set(gen.INDOOR_BG))
        outdoor = bool(raw & set(gen.OUTDOOR_BG))
        assert indoor != outdoor  # one scene per image
        # the context classes follow the scene, never the other one
        assert not raw & (outdoor_ctx if indoor else indoor_ctx)
    assert len(seen) >= 15
    assert seen & set(gen.THIN) and seen & set(gen.SMALL)
    # deterministic and the validation split is independent of --num-train
    other = gen.make_mini_ade20k_hard(str(tmp_path / 'b'), num_train=1,
                                      num_val=2, size=96, verbose=False)
    name = 'annotations/validation/ADE_val_00000002.png'
    a = (tmp_path / 'ADEChallengeData2016' / name).read_bytes()
    assert a == (tmp_path / 'b' / 'ADEChallengeData2016' / name).read_bytes()
    assert other.endswith('ADEChallengeData2016')


def test_choose_budget_greedy_search_path(tmp_path, monkeypatch):
    """The greedy search's path on a synthetic model (no network runs):
    later stages matter less, so it lowers them first."""
    tool = load_tool('tools/analysis_tools/choose_budget.py')
    from veca_mm.utils.stages import layer_budgets
    calls = []

    def fake_eval(cfg, checkpoint, budgets, work_dir, repeats):
        calls.append(tuple(budgets))
        per_layer = layer_budgets(tuple(budgets), 4)
        score = sum(b * w for b, w in zip(per_layer, (8, 4, 2, 1)))
        return dict(budgets=list(budgets), input_hw=[96, 96],
                    backbone_ms=float(sum(per_layer)),
                    model_ms=float(sum(per_layer)) + 10, mIoU=score / 10)

    monkeypatch.setattr(tool, 'evaluate_schedule', fake_eval)
    ckpt = tmp_path / 'x.pth'
    torch.save({}, ckpt)
    res = tool.main([str(CFG), str(ckpt), '--latency-ms', '100',
                     '--search', 'greedy', '--work-dir', str(tmp_path)])
    assert calls[:4] == [(8, ), (16, ), (24, ), (32, )]
    assert len(calls) == len(set(calls))  # nothing measured twice
    # first step lowers the last stage, then keeps lowering the late ones
    assert calls[4:8] == [(24, 32, 32, 32), (32, 24, 32, 32),
                          (32, 32, 24, 32), (32, 32, 32, 24)]
    assert (32, 32, 32, 8) in calls and (8, ) in calls
    assert len(calls) <= 4 + 4 * 3 * 4
    # best within 100 ms (model_ms = 10 + sum of per-layer budgets)
    fits = [c for c in calls if sum(layer_budgets(c, 4)) + 10 <= 100]
    best = max(fits, key=lambda c: sum(
        b * w for b, w in zip(layer_budgets(c, 4), (8, 4, 2, 1))))
    assert res['chosen']['schedule'] == best
