"""The config's ``compile=True`` through ``tools/train.py`` (issue #15):
mmengine would compile its whole ``train_step`` (optimizer step included),
which dynamo cannot trace on torch 2.14.1; veca_mm compiles the backbone.
Checked in-process, on the mini NYU depth config (nested budgets 8, 16):
training runs, its losses equal eager training's, and the number of graphs
dynamo hands to the backend stays one per budget plus the prefix."""
import glob
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub

from tests.conftest import REPO, load_tool

MINI_NYU = REPO / 'configs/mini/depth-fpn_veca-t_1xb2-20_mini-nyu-64x64.py'

ITERS = 4
FAST = [f'{k}_dataloader.{o}' for k in ('train', 'val', 'test')
        for o in ('num_workers=0', 'persistent_workers=False')]
GRAPHS = []


@torch._dynamo.register_backend(name='veca_count_graphs')
def count_graphs(gm, example_inputs):
    """Counts each graph dynamo compiles, then runs AOT autograd's
    functionalised forward/backward (what inductor gets, without codegen)."""
    GRAPHS.append((MessageHub.get_current_instance().get_info('iter'),
                   torch.is_grad_enabled()))
    return torch._dynamo.lookup_backend('aot_eager')(gm, example_inputs)


def train_losses(train, roots, work_dir, name, extra):
    """Run tools/train.py's main; the per-iteration losses of its json log."""
    train.main([str(MINI_NYU), '--work-dir', str(work_dir), '--cfg-options']
               + roots + FAST + [
                   f'train_cfg.max_iters={ITERS}',
                   f'train_cfg.val_interval={ITERS}',
                   f'default_hooks.checkpoint.interval={ITERS}',
                   'default_hooks.logger.interval=1',
                   f'experiment_name={name}',  # fresh MessageHub
                   f'visualizer.name={name}'] + extra)  # and log dir
    rows = []
    for f in glob.glob(osp.join(str(work_dir), '*/vis_data/*.json')):
        if osp.basename(f) != 'scalars.json':
            rows += [json.loads(line) for line in open(f)]
    losses = {r['step']: r['loss'] for r in rows if 'loss' in r}
    val = [r for r in rows if 'rmse' in r]
    return [losses[i] for i in range(1, ITERS + 1)], val


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp('mini_nyu_compile')
    root = load_tool('tools/dataset_converters/make_mini_nyu.py'
                     ).make_mini_nyu(str(out), num_train=4, num_test=2)
    roots = [f'{k}_dataloader.dataset.data_root={root}'
             for k in ('train', 'val', 'test')]
    train = load_tool('tools/train.py')
    torch.compiler.reset()
    GRAPHS.clear()
    eager = train_losses(train, roots, out / 'eager', 'eager', [])
    assert GRAPHS == []
    try:
        compiled = train_losses(train, roots, out / 'compiled', 'compiled',
                                ['compile.backend=veca_count_graphs'])
        graphs = list(GRAPHS)
    finally:
        torch.compiler.reset()
    return eager, compiled, graphs


def test_compile_true_trains_like_eager_with_bounded_graphs(runs):
    (eager, eager_val), (compiled, compiled_val), graphs = runs
    # the seeded nested-budget draw (a pure function of the iteration)
    from veca_mm.models.backbones import VECA
    cfg = Config.fromfile(str(MINI_NYU)).model.backbone
    budgets = cfg.train_core_budgets['budgets']
    bb = VECA(**{k: v for k, v in cfg.items() if k != 'type'})
    drawn = [bb.draw_train_budgets(i) for i in range(ITERS)]
    all_seen = next(i for i in range(ITERS)
                    if len(set(drawn[:i + 1])) == len(budgets))
    assert all_seen < ITERS - 1, drawn  # iterations after both were drawn

    # steps 2.. see the weights the compiled backward + eager AdamW made
    torch.testing.assert_close(torch.tensor(compiled), torch.tensor(eager),
                               rtol=1e-4, atol=1e-5)
    assert len(eager_val) == len(compiled_val) == 1
    torch.testing.assert_close(compiled_val[0]['rmse'], eager_val[0]['rmse'],
                               rtol=1e-4, atol=1e-5)
    train = [it for it, grad in graphs if grad]
    print(f'budgets drawn {drawn}; graphs (iter, grad) {graphs}')
    # budget-independent prefix + one graph per budget, all compiled by the
    # time every budget has been drawn; later steps reuse them
    assert 1 <= len(train) <= len(budgets) + 2, graphs
    assert all(it <= all_seen for it in train), (graphs, drawn)
    assert len(graphs) - len(train) <= 1, graphs  # eval: one graph


def test_compile_options_are_taken_from_mmengine():
    """The config's ``compile`` is popped (so mmengine's runner does not
    compile ``train_step``) and bad values fail early, naming the fix."""
    from veca_mm.utils.cli import compile_options
    for value, want in ((True, {}), (False, None), (None, None),
                        (dict(backend='eager'), dict(backend='eager'))):
        cfg = Config(dict(compile=value))
        assert compile_options(cfg) == want and 'compile' not in cfg
    with pytest.raises(ValueError, match='remove compile.target'):
        compile_options(Config(dict(compile=dict(target='train_step'))))
    with pytest.raises(TypeError, match='torch.compile options'):
        compile_options(Config(dict(compile='inductor')))
