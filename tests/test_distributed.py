"""Two processes on CPU (gloo) through tools/dist_train.sh."""
import json
import os
import subprocess
import sys

import pytest

from .conftest import REPO, free_port, load_tool

# process groups: `make test` runs this file after the parallel pass, alone
pytestmark = pytest.mark.serial

CFG = REPO / 'configs/mini/upernet_veca-t_1xb4-600_mini-ade20k-96x96.py'

# A hook that records, on every rank, the core budget each forward used.
RECORDER = '''
import json, os
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class RecordBudgets(Hook):
    def before_run(self, runner):
        self.seen = []
        model = getattr(runner.model, 'module', runner.model)
        for i, block in enumerate(model.backbone.blocks):
            block.register_forward_pre_hook(
                lambda m, args, i=i: self.seen.append(
                    (runner.iter, i, args[2])) if m.training else None)

    def after_run(self, runner):
        path = os.path.join(runner.work_dir,
                            f'budgets_rank{os.environ["RANK"]}.json')
        with open(path, 'w') as f:
            json.dump(self.seen, f)
'''


# The config's nested budgets, and a per-stage schedule (budgets that shrink,
# grow and mix stage counts), under which DDP must see no unused parameter.
PER_STAGE = ('model = dict(backbone=dict(train_core_budgets=dict(budgets=('
             '(32, 16, 8, 8), (8, 16, 24, 32), (16, ), (24, 8)))))\n')


@pytest.mark.parametrize('schedule', ['nested', 'per-stage'])
def test_two_process_cpu_training_same_budgets(tmp_path, schedule):
    load_tool('tools/dataset_converters/make_mini_ade20k.py'
              ).make_mini_ade20k(str(tmp_path), num_train=4, num_val=2,
                                 size=64)
    root = tmp_path / 'ADEChallengeData2016'
    (tmp_path / 'budget_recorder.py').write_text(RECORDER)
    work = tmp_path / 'work'
    opts = [f'{k}_dataloader.{o}' for k in ('train', 'val')
            for o in (f'dataset.data_root={root}', 'num_workers=0',
                      'persistent_workers=False')]
    opts += ['train_cfg.max_iters=6', 'train_cfg.val_interval=6',
             'default_hooks.checkpoint.interval=6',
             'train_dataloader.batch_size=2']
    cfg = tmp_path / 'dist_cfg.py'
    cfg.write_text(f"_base_ = ['{CFG}']\n"
                   "custom_imports = dict(imports=['veca_mm', "
                   "'budget_recorder'], allow_failed_imports=False)\n"
                   "custom_hooks = [dict(type='RecordBudgets')]\n" +
                   (PER_STAGE if schedule == 'per-stage' else ''))
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(free_port()),
               OMP_NUM_THREADS='1',
               PYTHONPATH=f'{tmp_path}:{os.environ.get("PYTHONPATH", "")}')
    out = subprocess.run(
        ['bash', 'tools/dist_train.sh', str(cfg), '2', '--work-dir',
         str(work), '--cfg-options'] + opts, cwd=REPO, env=env,
        capture_output=True, text=True, timeout=600)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-5000:]
    assert 'SyncBN needs CUDA: using BN instead' in log
    assert 'were not used' not in log  # DDP unused-parameter error
    assert sorted(p.name for p in work.glob('*.pth')) == ['iter_6.pth']
    ranks = [json.loads((work / f'budgets_rank{r}.json').read_text())
             for r in (0, 1)]
    assert ranks[0] == ranks[1]
    # each iteration used the seeded nested draw of that iteration, layer by
    # layer
    from veca_mm.models.backbones import VECA
    veca = VECA(**_backbone_kwargs(cfg))
    L = veca.num_layers
    used = {}
    for it, layer, c in ranks[0]:
        used.setdefault(it, [None] * L)[layer] = c
    assert sorted(used) == list(range(6))
    expected = {}
    for it in range(6):
        b = veca.draw_train_budgets(it)
        expected[it] = [b[j // (L // len(b))] for j in range(L)]
    assert used == expected
    assert len({tuple(v) for v in used.values()}) > 1  # not one budget
    if schedule == 'per-stage':
        assert any(len(set(v)) > 1 for v in used.values())


def _backbone_kwargs(cfg_path):
    from mmengine.config import Config
    backbone = Config.fromfile(
        cfg_path, import_custom_modules=False).model.backbone.to_dict()
    backbone.pop('type')
    return backbone
