"""Budget sweep and core visualization on a tiny model."""
import csv
import json
import math

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from .conftest import REPO, load_tool
from .tool_runs import run_tool

CFG = REPO / 'configs/mini/upernet_veca-t_1xb4-600_mini-ade20k-96x96.py'


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('budget')
    load_tool('tools/dataset_converters/make_mini_ade20k.py'
              ).make_mini_ade20k(str(tmp), num_train=2, num_val=2, size=64)
    root = tmp / 'ADEChallengeData2016'
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(CFG).model)
    model.init_weights()
    ckpt = tmp / 'tiny.pth'
    torch.save(dict(state_dict=model.state_dict(), meta={}), ckpt)
    opts = []
    for k in ('train', 'val', 'test'):
        opts += [f'{k}_dataloader.dataset.data_root={root}',
                 f'{k}_dataloader.num_workers=0',
                 f'{k}_dataloader.persistent_workers=False']
    return tmp, root, ckpt, opts


def test_budget_sweep_writes_one_row_per_budget(setup):
    tmp, _, ckpt, opts = setup
    sweep = load_tool('tools/analysis_tools/budget_sweep.py')
    out = tmp / 'sweep'
    rows = sweep.main([str(CFG), str(ckpt), '--budgets', '8', '24',
                       '--stage-budgets', '32,8', '--work-dir', str(out),
                       '--repeats', '1', '--cfg-options'] + opts)
    assert [r['budgets'] for r in rows] == [[8], [24], [32, 8]]
    data = json.loads((out / 'budget_sweep.json').read_text())
    assert data['metric'] == 'mIoU' and len(data['rows']) == 3
    with open(out / 'budget_sweep.csv') as f:
        table = list(csv.DictReader(f))
    assert [r['budgets'] for r in table] == ['8', '24', '32/8']
    # each row is the config's own evaluation at that budget: tools/test.py
    # with --core-budgets scores the same mIoU (the model is untrained, so
    # only agreement can be asserted, not quality; its scores differ between
    # budgets, so a budget ignored anywhere shows: every metric equal would
    # mean the same predictions, while mIoU alone rounds to one value easily)
    scores = [tuple(r[k] for k in ('aAcc', 'mIoU', 'mAcc')) for r in rows]
    assert scores[0] != scores[1], scores
    for budgets, row in (([24], rows[1]), ([32, 8], rows[2])):
        log = run_tool(['tools/test.py', CFG, ckpt, '--work-dir',
                        tmp / f'test_{len(budgets)}', '--core-budgets'] +
                       [str(b) for b in budgets] + ['--cfg-options'] + opts)
        tested = [json.loads(line) for f in sorted(
            (tmp / f'test_{len(budgets)}').glob('*/*.json'))
            for line in open(f)]
        assert tested[-1]['mIoU'] == pytest.approx(row['mIoU'], abs=1e-6), (
            budgets, tested[-1], row, log[-500:])
    for r in rows:
        assert math.isfinite(r['backbone_ms']) and r['backbone_ms'] > 0
        assert r['model_ms'] >= r['backbone_ms']
    assert (out / 'budget_sweep.png').stat().st_size > 1000


def test_budget_sweep_rejects_bad_budget_before_running(setup):
    tmp, _, ckpt, opts = setup
    sweep = load_tool('tools/analysis_tools/budget_sweep.py')
    with pytest.raises(ValueError, match='core budget 12'):
        sweep.main([str(CFG), str(ckpt), '--budgets', '12', '--work-dir',
                    str(tmp / 'bad'), '--cfg-options'] + opts)


def test_visualize_cores(setup):
    tmp, root, ckpt, _ = setup
    vis = load_tool('tools/analysis_tools/visualize_cores.py')
    image = sorted((root / 'images' / 'validation').glob('*.jpg'))[0]
    att, traj, results = vis.main([str(CFG), str(ckpt), str(image),
                                   '--budgets', '8', '32', '--out-dir',
                                   str(tmp / 'vis')])
    for png in (att, traj):
        assert (tmp / 'vis').joinpath(png.split('/')[-1]).stat().st_size > 1000
    maps8, pos8, _ = results[8]
    maps32, pos32, _ = results[32]
    assert len(maps8) == len(pos8) == 4  # one per layer
    assert maps8[0].shape[0] == 8 and maps32[0].shape[0] == 32
    for m in maps8 + maps32:
        assert (m >= 0).all() and (m.sum(axis=(1, 2)) <= 1 + 1e-5).all()
    # cores move between layers (the learned coordinate updates)
    assert not torch.allclose(torch.as_tensor(pos32[0]),
                              torch.as_tensor(pos32[-1]))
