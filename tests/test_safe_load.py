"""Weights-only loading of mmengine checkpoints (veca_mm.utils.safe_load)."""
import os
import pickle

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from veca_mm.utils.safe_load import (SAFE_GLOBALS, CorruptCheckpointError,
                                     UnsafeCheckpointError,
                                     load_checkpoint_safely,
                                     register_safe_globals)


class _ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.lin(inputs)
        if mode == 'loss':
            return dict(loss=((out.squeeze(-1) - labels)**2).mean())
        return out


class _ToyDataset(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(inputs=torch.full((2, ), float(i)),
                    labels=torch.tensor(float(i)))


class _RecordStartIter(Hook):

    def __init__(self):
        self.start_iter = None

    def before_train(self, runner):
        self.start_iter = runner.iter


def _runner(work_dir, name, max_iters, custom_hooks=(), **kwargs):
    return Runner(model=_ToyModel(),
                  work_dir=str(work_dir),
                  experiment_name=name,
                  train_dataloader=dict(
                      dataset=_ToyDataset(),
                      sampler=dict(type='DefaultSampler', shuffle=True),
                      batch_size=2,
                      num_workers=0,
                      collate_fn=dict(type='default_collate')),
                  train_cfg=dict(by_epoch=False, max_iters=max_iters),
                  optim_wrapper=dict(optimizer=dict(type='AdamW', lr=0.01)),
                  param_scheduler=[
                      dict(type='LinearLR',
                           start_factor=0.1,
                           by_epoch=False,
                           end=2),
                      dict(type='PolyLR',
                           by_epoch=False,
                           begin=2,
                           end=max_iters)
                  ],
                  default_hooks=dict(checkpoint=dict(type='CheckpointHook',
                                                     interval=3,
                                                     by_epoch=False),
                                     logger=dict(type='LoggerHook',
                                                 interval=1)),
                  custom_hooks=list(custom_hooks),
                  randomness=dict(seed=0),
                  **kwargs)


@pytest.fixture(scope='module')
def runner_ckpt(tmp_path_factory):
    """A real mmengine training checkpoint saved at iteration 3."""
    work_dir = tmp_path_factory.mktemp('toy_run')
    _runner(work_dir, 'veca_safe_load_first', max_iters=3).train()
    path = work_dir / 'iter_3.pth'
    assert path.is_file()
    return path


# Written by _Payload.__reduce__ if unpickling ever executes it.
def _touch_marker(path):
    with open(path, 'w') as f:
        f.write('pwned')


class _Payload:

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return _touch_marker, (self.marker, )


class _GetattrPayload:
    """Pickles as ``builtins.getattr(HistoryBuffer, '__subclasses__')``."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, '__subclasses__')


@pytest.fixture
def empty_allowlist():
    """torch's weights-only allowlist cleared for one test, then put back
    exactly as it was (other tests and libraries rely on it)."""
    saved = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        yield
    finally:
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(saved)


def test_runner_checkpoint_needs_and_gets_allowlist(runner_ckpt,
                                                    empty_allowlist):
    # Without veca_mm's allowlist this is exactly what torch refuses
    # (import veca_mm registered it already: start from torch's own list).
    unsafe = set(
        torch.serialization.get_unsafe_globals_in_checkpoint(str(runner_ckpt)))
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in unsafe
    register_safe_globals()
    # Default torch.load (weights_only=True on torch >= 2.6), as mmengine
    # calls it.
    ckpt = torch.load(runner_ckpt)
    assert ckpt['meta']['iter'] == 3
    loss = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(loss, HistoryBuffer)
    assert len(loss.data[0]) == 3
    assert loss.statistics('mean') == pytest.approx(loss.mean())
    assert set(load_checkpoint_safely(runner_ckpt)) == set(ckpt)


def test_runner_resumes_through_mmengine(runner_ckpt, tmp_path):
    register_safe_globals()
    ref = torch.load(runner_ckpt)
    hook = _RecordStartIter()
    runner = _runner(tmp_path,
                     'veca_safe_load_resumed',
                     max_iters=5,
                     custom_hooks=[hook],
                     load_from=str(runner_ckpt),
                     resume=True)
    runner.train()
    assert hook.start_iter == 3  # restored by Runner.resume -> torch.load
    assert runner.iter == 5
    hub = runner.message_hub.log_scalars['train/loss']
    # 3 resumed loss values + 2 new ones.
    assert len(hub.data[0]) == 5
    torch.testing.assert_close(
        hub.data[0][:3],
        ref['message_hub']['log_scalars']['train/loss'].data[0][:3])


def test_load_from_without_resume(runner_ckpt, tmp_path):
    register_safe_globals()
    runner = _runner(tmp_path,
                     'veca_safe_load_from',
                     max_iters=1,
                     load_from=str(runner_ckpt))
    runner.load_or_resume()
    ref = torch.load(runner_ckpt)['state_dict']
    torch.testing.assert_close(runner.model.lin.weight, ref['lin.weight'])


def test_pickled_callable_refused_and_not_run(tmp_path):
    marker = tmp_path / 'marker.txt'
    path = tmp_path / 'evil.pth'
    torch.save({
        'state_dict': {
            'w': torch.ones(2)
        },
        'x': _Payload(marker)
    }, path)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_checkpoint_safely(path)
    msg = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert str(path) in msg
    assert 'holds a pickled object outside' in msg
    assert '_touch_marker' in msg
    assert 'veca_mm refuses' in msg
    assert 'add_safe_globals' in msg and 're-save the tensors' in msg
    assert not marker.exists()


def test_os_system_refused(tmp_path):
    marker = tmp_path / 'marker2.txt'
    path = tmp_path / 'evil2.pth'

    class SystemPayload:

        def __reduce__(self):
            return os.system, (f'touch {marker}', )

    torch.save({'x': SystemPayload()}, path)
    with pytest.raises(UnsafeCheckpointError, match='system'):
        load_checkpoint_safely(path)
    assert not marker.exists()


def test_builtin_eval_refused(tmp_path):

    class EvalPayload:

        def __reduce__(self):
            return eval, ('1 + 1', )

    path = tmp_path / 'eval.pth'
    torch.save({'x': EvalPayload()}, path)
    with pytest.raises(UnsafeCheckpointError, match=r'builtins\.eval'):
        load_checkpoint_safely(path)


def test_numpy_payloads_load(tmp_path):
    path = tmp_path / 'np.pth'
    values = [
        np.float32(1.5),
        np.int32(3),
        np.bool_(True),
        np.array([[1, 2]], dtype=np.uint8),
        np.array([], dtype=np.float16),
        HistoryBuffer(),  # empty arrays pickle as bytes()
    ]
    torch.save({'x': values}, path)
    out = load_checkpoint_safely(path)['x']
    for a, b in zip(out[:5], values[:5]):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert isinstance(out[5], HistoryBuffer) and out[5].data[0].size == 0
    # Object arrays can carry arbitrary objects: still refused.
    torch.save({'x': np.array([1, 'a'], dtype=object)}, path)
    with pytest.raises(UnsafeCheckpointError, match='ObjectDType'):
        load_checkpoint_safely(path)


def test_getattr_standin_only_allows_history_buffer_stats(tmp_path):
    path = tmp_path / 'getattr.pth'
    torch.save({'x': _GetattrPayload()}, path)
    with pytest.raises(UnsafeCheckpointError, match='builtins.getattr'):
        load_checkpoint_safely(path)
    # The default torch.load path is just as strict.
    with pytest.raises(pickle.UnpicklingError, match='__subclasses__'):
        torch.load(path)


@pytest.mark.parametrize('cut', ['half', 'tail', 'empty', 'garbage'])
def test_truncated_or_garbage(runner_ckpt, tmp_path, cut):
    data = runner_ckpt.read_bytes()
    data = dict(half=data[:len(data) // 2],
                tail=data[:-10],
                empty=b'',
                garbage=b'definitely not a checkpoint\n' * 20)[cut]
    path = tmp_path / f'{cut}.pth'
    path.write_bytes(data)
    with pytest.raises(CorruptCheckpointError) as info:
        load_checkpoint_safely(path)
    assert str(path) in str(info.value)
    assert 'truncated' in str(info.value)
    assert 'not a torch checkpoint' in str(info.value)


def test_missing_file(tmp_path):
    path = tmp_path / 'nope.pth'
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_checkpoint_safely(path)


def test_register_is_idempotent():
    register_safe_globals()
    before = torch.serialization.get_safe_globals()
    register_safe_globals()
    after = torch.serialization.get_safe_globals()
    assert len(after) == len(before)
    assert set(map(repr, after)) == set(map(repr, before))
    for entry in SAFE_GLOBALS:
        assert entry in after


def test_allowlist_restored_after_clearing(empty_allowlist):
    assert torch.serialization.get_safe_globals() == []


def test_the_fixture_put_the_allowlist_back():
    """Runs after the test above: veca_mm's entries are there again."""
    allowed = torch.serialization.get_safe_globals()
    assert all(entry in allowed for entry in SAFE_GLOBALS)


def test_import_adds_exactly_safe_globals():
    """In a fresh process, ``import veca_mm`` adds SAFE_GLOBALS to torch's
    allowlist and nothing else, and every entry is really registered.
    (torch itself adds its own classes, e.g. DTensor's, when the
    dependencies import torch.distributed; those are torch's, not ours.)"""
    import subprocess
    import sys
    code = (
        'import torch\n'
        'before = list(torch.serialization.get_safe_globals())\n'
        'import veca_mm\n'
        'from veca_mm.utils.safe_load import SAFE_GLOBALS\n'
        'after = list(torch.serialization.get_safe_globals())\n'
        'added = [e for e in after if e not in before and not getattr('
        'e, "__module__", "").startswith("torch.")]\n'
        'assert len(added) == len(SAFE_GLOBALS), (len(added), '
        'len(SAFE_GLOBALS))\n'
        'assert all(e in added for e in SAFE_GLOBALS)\n'
        'print("ok", len(added))\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ['ok', str(len(SAFE_GLOBALS))]


@pytest.mark.parametrize('zip_format', [True, False])
def test_mmap_maps_the_same_checkpoint(runner_ckpt, tmp_path, zip_format):
    """``mmap=True`` (``check_load_from``: keys and shapes without a second
    read) gives the same content; a legacy (non-zip) file is read."""
    full = load_checkpoint_safely(runner_ckpt)
    path = runner_ckpt
    if not zip_format:
        path = tmp_path / 'legacy.pth'
        torch.save(full, path, _use_new_zipfile_serialization=False)
    mapped = load_checkpoint_safely(path, mmap=True)
    assert mapped['state_dict'].keys() == full['state_dict'].keys()
    for k, v in full['state_dict'].items():
        assert torch.equal(mapped['state_dict'][k], v), k
    assert mapped['meta'].keys() == full['meta'].keys()


@pytest.mark.parametrize('cut', ['half', 'tail'])
def test_mmap_of_a_truncated_file_is_the_same_clear_error(runner_ckpt,
                                                          tmp_path, cut):
    data = runner_ckpt.read_bytes()
    path = tmp_path / f'{cut}.pth'
    path.write_bytes(data[:len(data) // 2] if cut == 'half' else data[:-10])
    with pytest.raises(CorruptCheckpointError, match='truncated'):
        load_checkpoint_safely(path, mmap=True)


def test_import_needs_no_private_framework_name():
    """No module of veca_mm imports a private name of torch or the mm
    libraries at import time (such imports go inside the version-checked
    code path that needs them): ``import veca_mm`` survives their
    refactors."""
    import ast
    import pathlib
    root = pathlib.Path(__file__).resolve().parents[1] / 'veca_mm'
    frameworks = ('torch', 'mmengine', 'mmcv', 'mmseg', 'mmdet')
    private = []
    for path in sorted(root.rglob('*.py')):
        for node in ast.parse(path.read_text()).body:  # module level only
            if isinstance(node, ast.ImportFrom) and node.module and \
                    node.module.split('.')[0] in frameworks:
                names = [node.module] + [a.name for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names
                         if a.name.split('.')[0] in frameworks]
            else:
                continue
            if any(p.startswith('_') for n in names for p in n.split('.')):
                private.append(f'{path.name}:{node.lineno} '
                               f'{ast.unparse(node)}')
    assert not private, private
