"""Kill, crash and NaN a real training through tools/train.py; nothing lost.

Faults are injected by a small hook module the test writes next to the
config (a real SIGKILL of the training process, a SIGKILL in the middle of
writing a checkpoint, a parameter turned NaN), so the code under test is the
shipped one.
"""
import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from .conftest import REPO, load_tool

CFG = REPO / 'configs/mini/upernet_veca-t_1xb4-600_mini-ade20k-96x96.py'
DET_CFG = REPO / 'configs/mini/mask-rcnn_veca-t_1xb2-20_mini-coco-128x128.py'

FAULTS = '''
import glob, os, signal, threading, time
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


def _env(name):
    v = os.environ.get(name)
    return None if v is None else int(v)


@HOOKS.register_module()
class InjectFaults(Hook):
    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter == _env('FAULT_KILL_AT_ITER'):
            os.kill(os.getpid(), signal.SIGKILL)
        if runner.iter == _env('FAULT_NAN_AT_ITER'):
            model = getattr(runner.model, 'module', runner.model)
            with torch.no_grad():
                model.decode_head.conv_seg.weight.fill_(float('nan'))

    def before_save_checkpoint(self, runner, checkpoint):
        if checkpoint['meta']['iter'] != _env('FAULT_KILL_IN_SAVE'):
            return
        # A big payload makes the write take long enough to be cut.
        checkpoint['ballast'] = torch.ones(50_000_000)
        pattern = os.path.join(runner.work_dir, '.iter_*veca-tmp*')

        def kill_mid_write():
            deadline = time.time() + 30
            while time.time() < deadline:
                parts = glob.glob(pattern)
                if parts and os.path.getsize(parts[0]) > 0:
                    break
                time.sleep(0.0005)
            os.kill(os.getpid(), signal.SIGKILL)

        threading.Thread(target=kill_mid_write, daemon=True).start()
'''


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('faults')
    load_tool('tools/dataset_converters/make_mini_ade20k.py'
              ).make_mini_ade20k(str(tmp), num_train=6, num_val=1, size=64)
    (tmp / 'inject_faults.py').write_text(FAULTS)
    cfg = tmp / 'faults_cfg.py'
    # Drop-path and dropout on: the resumed run must draw the same masks.
    cfg.write_text(
        f"_base_ = ['{CFG}']\n"
        "custom_imports = dict(imports=['veca_mm', 'inject_faults'], "
        "allow_failed_imports=False)\n"
        "custom_hooks = [dict(type='InjectFaults')]\n"
        "model = dict(backbone=dict(drop_path_rate=0.1), "
        "decode_head=dict(dropout_ratio=0.1))\n"
        "log_processor = dict(window_size=1)\n")
    return tmp, cfg


def run_train(cfg, work, data_opts, *extra, env=None, opts=()):
    tmp = cfg.parent
    full_env = dict(os.environ, OMP_NUM_THREADS='1', **(env or {}),
                    PYTHONPATH=f'{tmp}:{os.environ.get("PYTHONPATH", "")}')
    return subprocess.run(
        [sys.executable, 'tools/train.py', str(cfg), '--work-dir', str(work),
         *extra, '--cfg-options', *data_opts, *opts], cwd=REPO, env=full_env,
        capture_output=True, text=True, timeout=600)


def train(setup, work, *extra, env=None, max_iters=10, interval=4,
          opts=()):
    """The mini ADE20K UPerNet, iteration-based, one dataloader worker."""
    tmp, cfg = setup
    root = tmp / 'ADEChallengeData2016'
    data = [f'{s}_dataloader.dataset.data_root={root}'
            for s in ('train', 'val', 'test')]
    return run_train(cfg, work, data, *extra, env=env, opts=[
        f'train_cfg.max_iters={max_iters}',
        f'train_cfg.val_interval={max_iters}',
        f'default_hooks.checkpoint.interval={interval}',
        'default_hooks.logger.interval=1', 'train_dataloader.batch_size=2',
        *opts])


def run_losses(run_dir):
    """{global iteration: loss} logged by one run (one timestamp folder)."""
    lines = (run_dir / 'vis_data/scalars.json').read_text().splitlines()
    return {r['step']: r['loss'] for r in map(json.loads, lines)
            if 'loss' in r}


def losses(work):
    """{iteration: loss} from every run logged in ``work`` (later runs win)."""
    out = {}
    for run_dir in run_dirs(work):
        out.update(run_losses(run_dir))
    return out


def run_dirs(work):
    return sorted(p.parent for p in work.glob('*/vis_data'))


def test_sigkill_then_resume_gives_the_uninterrupted_losses(setup, tmp_path):
    ref_work = tmp_path / 'uninterrupted'
    ref = train(setup, ref_work)
    assert ref.returncode == 0, ref.stderr[-4000:]
    expected = losses(ref_work)
    assert sorted(expected) == list(range(1, 11))

    work = tmp_path / 'killed'
    killed = train(setup, work, env=dict(FAULT_KILL_AT_ITER='6'))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-4000:]
    assert sorted(p.name for p in work.glob('*.pth')) == ['iter_4.pth']
    first = losses(work)
    assert sorted(first) == list(range(1, 7))  # it got past the checkpoint

    resumed = train(setup, work, '--resume')
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    log = resumed.stdout + resumed.stderr
    assert 'resumed' in log.lower() and 'iter_4.pth' in log
    again = run_losses(run_dirs(work)[-1])
    assert sorted(again) == list(range(5, 11))
    # Bit-for-bit: the same floats, iteration by iteration.
    assert [first[i] for i in range(1, 7)] == \
        [expected[i] for i in range(1, 7)]
    assert [again[i] for i in range(5, 11)] == \
        [expected[i] for i in range(5, 11)]


@pytest.fixture(scope='module')
def det_setup(tmp_path_factory):
    """Mini COCO Mask R-CNN turned epoch-based: 4 iterations an epoch, a
    checkpoint every epoch, ``num_workers=0`` (augmentations in-process)."""
    tmp = tmp_path_factory.mktemp('det_faults')
    load_tool('tools/dataset_converters/make_mini_coco.py').make_mini_coco(
        str(tmp / 'coco'), num_train=8, num_val=2)
    (tmp / 'inject_faults.py').write_text(FAULTS)
    cfg = tmp / 'det_cfg.py'
    cfg.write_text(
        f"_base_ = ['{DET_CFG}']\n"
        "custom_imports = dict(imports=['veca_mm', 'inject_faults'], "
        "allow_failed_imports=False)\n"
        "custom_hooks = [dict(type='InjectFaults')]\n"
        "train_cfg = dict(_delete_=True, type='EpochBasedTrainLoop', "
        "max_epochs=3, val_interval=3)\n"
        "param_scheduler = [dict(type='LinearLR', start_factor=0.1, "
        "by_epoch=False, begin=0, end=5)]\n"
        "log_processor = dict(by_epoch=True, window_size=1)\n"
        "default_hooks = dict(logger=dict(interval=1), checkpoint=dict("
        "by_epoch=True, interval=1, max_keep_ckpts=1))\n"
        "model = dict(backbone=dict(drop_path_rate=0.1))\n")
    root = f'{tmp}/coco/'
    data = [f'{s}_dataloader.dataset.data_root={root}'
            for s in ('train', 'val', 'test')]
    data.append(f'val_evaluator.ann_file={root}'
                'annotations/instances_val2017.json')
    return cfg, data


def test_sigkill_then_resume_epoch_based_mask_rcnn(det_setup, tmp_path):
    cfg, data = det_setup
    ref = run_train(cfg, tmp_path / 'ref', data)
    assert ref.returncode == 0, ref.stderr[-4000:]
    expected = losses(tmp_path / 'ref')
    assert sorted(expected) == list(range(1, 13))

    work = tmp_path / 'killed'
    killed = run_train(cfg, work, data, env=dict(FAULT_KILL_AT_ITER='9'))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-4000:]
    assert sorted(p.name for p in work.glob('*.pth')) == ['epoch_2.pth']
    resumed = run_train(cfg, work, data, '--resume')
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    first, again = (run_losses(d) for d in run_dirs(work))
    # Epoch 3 (iterations 9-12) is redone after the resume, bit for bit.
    assert sorted(first) == list(range(1, 10))
    assert sorted(again) == [9, 10, 11, 12]
    assert first == {i: expected[i] for i in first}
    assert again == {i: expected[i] for i in again}


def test_kill_during_a_save_keeps_the_previous_checkpoint(setup, tmp_path):
    from veca_mm.utils import load_checkpoint_safely

    work = tmp_path / 'work'
    out = train(setup, work, env=dict(FAULT_KILL_IN_SAVE='8'))
    assert out.returncode == -signal.SIGKILL, out.stderr[-4000:]
    # The save of iteration 8 was cut: its bytes sit in a temporary file,
    # iter_8.pth does not exist, and max_keep_ckpts=1 did not delete iter_4.
    partial = list(work.glob('.iter_8.pth.veca-tmp-*'))
    assert len(partial) == 1 and partial[0].stat().st_size > 0
    assert sorted(p.name for p in work.glob('*.pth')) == ['iter_4.pth']
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_4.pth')
    ckpt = load_checkpoint_safely(str(work / 'iter_4.pth'))
    assert ckpt['meta']['iter'] == 4 and 'optimizer' in ckpt

    resumed = train(setup, work, '--resume')
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    log = resumed.stdout + resumed.stderr
    assert 'partial checkpoint left by a save that was interrupted' in log
    assert not list(work.glob('.*veca-tmp*'))
    assert sorted(p.name for p in work.glob('*.pth')) == ['iter_10.pth']
    assert load_checkpoint_safely(str(work / 'iter_10.pth'))['meta'][
        'iter'] == 10


def test_nan_loss_stops_with_iteration_budget_and_last_good_checkpoint(
        setup, tmp_path):
    from veca_mm.utils import load_checkpoint_safely

    work = tmp_path / 'work'
    # The 8th iteration goes NaN; iteration 8 is also a save iteration.
    out = train(setup, work, env=dict(FAULT_NAN_AT_ITER='7'))
    assert out.returncode != 0
    err = out.stderr
    assert 'NonFiniteLossError' in err, err[-4000:]
    assert 'Loss became non-finite at iteration 8/10' in err
    assert 'core budget in use: backbone: C=' in err
    assert '(nested draw)' in err
    assert f'last good checkpoint is {work / "iter_4.pth"}' in err
    assert f'--resume {work / "iter_4.pth"}' in err
    # Nothing of the NaN iteration reached the disk.
    assert sorted(p.name for p in work.glob('*.pth')) == ['iter_4.pth']
    state = load_checkpoint_safely(str(work / 'iter_4.pth'))['state_dict']
    assert all(torch.isfinite(v).all() for v in state.values()
               if v.is_floating_point())
    # The budget it names is the seeded draw of that iteration.
    from mmengine.config import Config

    from veca_mm.models.backbones import VECA
    bb = Config.fromfile(CFG).model.backbone
    bb.pop('type')
    drawn = VECA(**bb).draw_train_budgets(7)
    assert f'C={drawn[0]} (nested draw)' in err


def test_atomic_write_leaves_the_old_file_when_a_write_fails(tmp_path,
                                                             monkeypatch):
    from veca_mm.utils import atomic_io

    path = tmp_path / 'iter_4.pth'
    atomic_io.atomic_write_bytes(b'old checkpoint', path)

    def disk_full(fd):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(atomic_io.os, 'fsync', disk_full)
    with pytest.raises(OSError, match='No space left'):
        atomic_io.atomic_write_bytes(b'new' * 1000, path)
    assert path.read_bytes() == b'old checkpoint'
    assert atomic_io.stale_temp_files(str(tmp_path)) == []


def test_safety_hooks_are_added_once_and_keep_user_settings():
    from mmengine.config import Config

    from veca_mm.engine import add_safety_hooks

    cfg = Config.fromfile(CFG)
    changes = add_safety_hooks(cfg)
    assert cfg.default_hooks.checkpoint.type == 'AtomicCheckpointHook'
    assert cfg.default_hooks.checkpoint.max_keep_ckpts == 1  # kept
    assert [h['type'] for h in cfg.custom_hooks] == ['FiniteLossHook',
                                                     'IterSeedHook']
    assert len(changes) == 3
    assert add_safety_hooks(cfg) == []  # idempotent

    own = Config(dict(default_hooks=dict(checkpoint=dict(
        type='MyCheckpointHook')), custom_hooks=[dict(
            type='FiniteLossHook', interval=5)]))
    add_safety_hooks(own)
    assert own.default_hooks.checkpoint.type == 'MyCheckpointHook'
    assert own.custom_hooks[0] == dict(type='FiniteLossHook', interval=5)
    assert [h['type'] for h in own.custom_hooks] == ['FiniteLossHook',
                                                     'IterSeedHook']


def test_bad_budget_in_a_config_fails_before_any_iteration(setup, tmp_path):
    res = train(setup, tmp_path / 'work',
                opts=['model.backbone.core_budgets=12'])
    assert res.returncode != 0
    assert 'core_budgets: core budget 12 is not allowed for a bank of 32 ' \
        'cores in chunks of 8; use one of [8, 16, 24, 32]' in res.stderr
    assert 'Iter(train)' not in res.stdout + res.stderr
    assert not list((tmp_path / 'work').glob('*.pth'))


def test_missing_dataset_root_fails_before_the_runner(setup, tmp_path):
    missing = tmp_path / 'nowhere' / 'ADEChallengeData2016'
    res = train(setup, tmp_path / 'work', opts=[
        f'{s}_dataloader.dataset.data_root={missing}'
        for s in ('train', 'val')])
    assert res.returncode != 0
    # one line naming the problem, no traceback (tools' bad-input exit)
    assert 'Traceback' not in res.stderr
    assert 'train.py: ' in res.stderr
    assert (f"train_dataloader: ADE20KDataset data_root '{missing}' does "
            'not exist.') in res.stderr
    assert 'Expected layout: docs/datasets.md#ade20k' in res.stderr
    assert not (tmp_path / 'work').exists()  # failed before the runner


class _StubRunner:
    """What CheckpointHook touches of a runner, writing a fixed payload."""

    def __init__(self, work_dir):
        from mmengine.logging import MessageHub, MMLogger
        self.work_dir = str(work_dir)
        self.iter, self.epoch = 0, 0
        # not MessageHub.get_instance: that would make it the process's
        # current hub for every later test
        self.message_hub = MessageHub(f'stub-{work_dir}')
        self.logger = MMLogger.get_instance(f'stub-{work_dir}')
        self.fail = False

    def save_checkpoint(self, out_dir, filename, file_client_args=None,
                        backend_args=None, **kwargs):
        from mmengine.fileio import get_file_backend
        backend = get_file_backend(out_dir, backend_args=backend_args)
        if self.fail:
            raise OSError(28, 'No space left on device')
        backend.put(f'weights at {self.iter}'.encode(),
                    os.path.join(out_dir, filename))


@pytest.mark.parametrize('hook_type', ['CheckpointHook',
                                       'AtomicCheckpointHook'])
def test_failed_best_save_keeps_the_previous_best(tmp_path, hook_type):
    from mmengine.registry import HOOKS

    import veca_mm  # noqa: F401  (registers AtomicCheckpointHook)
    runner = _StubRunner(tmp_path)
    hook = HOOKS.build(dict(type=hook_type, interval=1, by_epoch=False,
                            save_best='mIoU', rule='greater'))
    hook.before_train(runner)
    runner.iter = 4
    hook._save_best_checkpoint(runner, {'mIoU': 50.0})
    best4 = tmp_path / 'best_mIoU_iter_4.pth'
    assert best4.read_bytes() == b'weights at 4'

    runner.iter, runner.fail = 8, True  # a better score, then a failed save
    with pytest.raises(OSError, match='No space left'):
        hook._save_best_checkpoint(runner, {'mIoU': 60.0})
    # mmengine's own hook deletes the previous best before writing the new
    # one; ours only deletes it once the new one exists.
    assert best4.exists() == (hook_type == 'AtomicCheckpointHook')
    assert not (tmp_path / 'best_mIoU_iter_8.pth').exists()

    # (The run stops at that error; --resume restores the hook's state from
    # the last checkpoint.) A successful improvement still replaces the best.
    runner = _StubRunner(tmp_path / 'ok')
    hook = HOOKS.build(dict(type=hook_type, interval=1, by_epoch=False,
                            save_best='mIoU', rule='greater'))
    hook.before_train(runner)
    for it, score in ((4, 50.0), (8, 60.0), (12, 55.0)):
        runner.iter = it
        hook._save_best_checkpoint(runner, {'mIoU': score})
    assert sorted(p.name for p in (tmp_path / 'ok').glob('best_*')) == [
        'best_mIoU_iter_8.pth']


def test_atomic_hook_refuses_an_untested_mmengine(monkeypatch):
    """It re-implements private mmengine methods: another mmengine version
    is one clear error when the hook is built (the start of a run)."""
    import mmengine
    from mmengine.registry import HOOKS

    import veca_mm  # noqa: F401  (registers AtomicCheckpointHook)
    from veca_mm.engine.hooks.atomic_checkpoint_hook import TESTED_MMENGINE
    assert mmengine.__version__ in TESTED_MMENGINE  # the pinned stack
    monkeypatch.setattr(mmengine, '__version__', '0.11.0')
    with pytest.raises(RuntimeError, match=r'mmengine 0\.11\.0 is installed'
                       r'.*CheckpointHook'):
        HOOKS.build(dict(type='AtomicCheckpointHook', interval=1))
    HOOKS.build(dict(type='CheckpointHook', interval=1))  # the way out


def test_second_before_train_keeps_atomic_writes(tmp_path):
    """A second before_train (runner.train() called again) used to see the
    hook's own backend_args and switch atomic writes off with a warning."""
    from mmengine.registry import HOOKS

    import veca_mm  # noqa: F401
    from veca_mm.utils.atomic_io import ATOMIC_BACKEND
    runner = _StubRunner(tmp_path)
    hook = HOOKS.build(dict(type='AtomicCheckpointHook', interval=1,
                            by_epoch=False))
    warnings = []
    runner.logger.warning = warnings.append
    for _ in range(2):
        hook.before_train(runner)
        assert hook.atomic is True
        assert hook.backend_args == dict(backend=ATOMIC_BACKEND)
    assert not warnings
    runner.iter = 1
    hook._save_checkpoint_with_step(runner, 1, meta={})
    assert (tmp_path / 'iter_1.pth').read_bytes() == b'weights at 1'
