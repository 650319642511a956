"""A corrupt training sample mid-run loses nothing (issue #26).

A truncated JPEG, a zero-byte PNG label and a missing image are put into
the mini ADE20K and mini COCO sets. By default training stops naming the
sample (index and files), the last checkpoint and how to resume; with
``skip_bad_samples=dict(max=N)`` the bad samples are skipped, each named in
the log with the count, and the run stops past the limit. Both are run
through ``tools/train.py`` and resumed.
"""
import os
import shutil
import subprocess
import sys

import pytest
import torch

from .conftest import REPO, load_tool, mini_ade20k

ADE_CFG = 'upernet_veca-t_1xb4-600_mini-ade20k-96x96.py'
COCO_CFG = 'mask-rcnn_veca-t_1xb2-20_mini-coco-128x128.py'


def mini_config(name):
    """The mini config ``name`` wherever configs/ keeps it."""
    found = sorted(REPO.glob(f'configs/**/{name}'))
    assert found, f'no config {name} under configs/'
    return found[0]


def truncate(path, keep=200):
    data = path.read_bytes()
    path.write_bytes(data[:keep])
    return data


@pytest.fixture(scope='module')
def ade_root(tmp_path_factory):
    return mini_ade20k(tmp_path_factory, num_train=6, num_val=1, size=48)


@pytest.fixture
def ade(ade_root, tmp_path):
    """A fresh copy of the mini ADE20K set to damage."""
    root = tmp_path / 'ADEChallengeData2016'
    shutil.copytree(ade_root, root)
    return root


def ade_files(root, i):
    name = f'ADE_train_{i + 1:08d}'
    return (root / 'images/training' / f'{name}.jpg',
            root / 'annotations/training' / f'{name}.png')


def ade_dataset(root, **guard):
    from mmengine.config import Config
    from mmengine.registry import DATASETS, init_default_scope

    import veca_mm  # noqa: F401
    init_default_scope('mmseg')
    cfg = Config.fromfile(mini_config(ADE_CFG)).train_dataloader.dataset
    cfg.data_root = str(root)
    return DATASETS.build(dict(type='BadSampleGuard', dataset=cfg, **guard))


# --------------------------------------------------------------------- #
# In process: the wrapper itself
def test_default_names_index_files_and_how_to_resume(ade, tmp_path):
    from veca_mm.datasets import BadSampleError
    img, label = ade_files(ade, 2)
    label.write_bytes(b'')  # a zero-byte PNG label
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'last_checkpoint').write_text(str(work / 'iter_4.pth'))
    guard = ade_dataset(ade, work_dir=str(work))
    assert len(guard) == 6 and guard.metainfo['classes'][0] == 'wall'
    assert guard[1]['inputs'].shape[0] == 3  # good samples load
    with pytest.raises(BadSampleError) as err:
        guard[2]
    msg = str(err.value)
    assert f'training sample 2 (img_path={img}, seg_map_path={label})' in msg
    assert 'UnidentifiedImageError' in msg
    assert f'the last checkpoint, {work / "iter_4.pth"}, is intact' in msg
    assert 'tools/train.py CONFIG --resume' in msg
    assert 'skip_bad_samples=dict(max=N)' in msg


def test_skips_are_counted_over_workers_and_stop_past_the_limit(ade):
    from veca_mm.datasets import BadSampleError
    truncate(ade_files(ade, 1)[0])
    # a missing label (a missing image is not listed: mmseg scans the image
    # folder when the run starts)
    ade_files(ade, 4)[1].unlink()
    guard = ade_dataset(ade, skip_bad_samples=dict(max=2))
    loader = torch.utils.data.DataLoader(
        guard, batch_size=2, num_workers=2, collate_fn=lambda b: b)
    for _ in range(2):  # every sample twice, from two worker processes
        batches = list(loader)
        assert sum(map(len, batches)) == 6
    # the distinct bad samples, counted once each across the workers
    assert guard.skipped == 2
    # sample 1 was replaced by sample 2 (the next one that loads)
    assert guard[1]['data_samples'].img_path == str(ade_files(ade, 2)[0])

    strict = ade_dataset(ade, skip_bad_samples=dict(max=1))
    strict[1]  # the first one is skipped
    with pytest.raises(BadSampleError, match=r'training sample 4 .*'
                       r'FileNotFoundError.*This is bad sample 2, past '
                       r'skip_bad_samples.max=1'):
        strict[4]


@pytest.mark.parametrize('value', [0.5, dict(max=-1), dict(max=True),
                                   dict(limit=3), 'yes', dict()])
def test_bad_skip_setting_is_named(value):
    from veca_mm.datasets import check_skip_bad_samples
    with pytest.raises(ValueError, match='skip_bad_samples='):
        check_skip_bad_samples(value)


def test_train_py_wraps_the_training_set_once():
    from mmengine.config import Config

    from veca_mm.engine import add_safety_hooks
    cfg = Config.fromfile(mini_config(ADE_CFG))
    cfg.work_dir = 'w'
    cfg.skip_bad_samples = dict(max=3)
    inner = cfg.train_dataloader.dataset.to_dict()
    add_safety_hooks(cfg)
    add_safety_hooks(cfg)
    guard = cfg.train_dataloader.dataset
    assert guard.type == 'BadSampleGuard' and guard.work_dir == 'w'
    assert guard.skip_bad_samples == dict(max=3)
    assert guard.dataset.to_dict() == inner  # wrapped once, unchanged
    assert cfg.val_dataloader.dataset.type == 'ADE20KDataset'
    cfg.skip_bad_samples = dict(max='3')
    with pytest.raises(ValueError, match='skip_bad_samples='):
        add_safety_hooks(cfg)


# --------------------------------------------------------------------- #
# Through tools/train.py, resumed
def train(cfg, work, data_opts, *extra, max_iters=4, opts=()):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    return subprocess.run(
        [sys.executable, 'tools/train.py', str(cfg), '--work-dir', str(work),
         *extra, '--cfg-options', *data_opts,
         f'train_cfg.max_iters={max_iters}',
         f'train_cfg.val_interval={max_iters}',
         'default_hooks.checkpoint.interval=2',
         'default_hooks.logger.interval=1', 'train_dataloader.batch_size=2',
         *opts], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=600)


def ade_opts(root):
    return [f'{s}_dataloader.dataset.data_root={root}'
            for s in ('train', 'val', 'test')]


def ckpts(work):
    return sorted(p.name for p in work.glob('*.pth'))


def test_ade20k_truncated_jpeg_stops_by_name_then_resumes(ade, tmp_path):
    cfg, work = mini_config(ADE_CFG), tmp_path / 'work'
    first = train(cfg, work, ade_opts(ade), max_iters=2)
    assert first.returncode == 0, first.stderr[-3000:]
    assert ckpts(work) == ['iter_2.pth']
    img = ade_files(ade, 3)[0]
    good = truncate(img)
    # iterations 1-2 replayed and 3-4 draw every sample at least once
    stopped = train(cfg, work, ade_opts(ade), '--resume')
    assert stopped.returncode != 0
    err = stopped.stderr
    assert 'BadSampleError' in err and f'img_path={img}' in err, err[-3000:]
    assert 'training sample 3 ' in err
    assert 'AssertionError: failed to load image' in err
    assert f'the last checkpoint, {work / "iter_2.pth"}, is intact' in err
    assert ckpts(work) == ['iter_2.pth']  # nothing lost, nothing written
    img.write_bytes(good)  # fixed: resume from where it stopped
    resumed = train(cfg, work, ade_opts(ade), '--resume')
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert 'iter_2.pth' in resumed.stdout + resumed.stderr
    assert ckpts(work) == ['iter_4.pth']


def test_ade20k_skips_counted_stop_past_limit_then_resume(ade, tmp_path):
    cfg, work = mini_config(ADE_CFG), tmp_path / 'work'
    label = ade_files(ade, 0)[1]
    label.write_bytes(b'')  # a zero-byte PNG label
    missing = ade_files(ade, 5)[1]
    missing.unlink()  # a missing label file
    stopped = train(cfg, work, ade_opts(ade),
                    opts=['skip_bad_samples.max=1'])
    assert stopped.returncode != 0
    log = stopped.stdout + stopped.stderr
    assert 'This is bad sample 2, past skip_bad_samples.max=1' in log, \
        log[-3000:]
    assert log.count('BadSampleGuard: skipping training sample') == 1
    resumed = train(cfg, work, ade_opts(ade), '--resume',
                    opts=['skip_bad_samples.max=2'])
    log = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, log[-3000:]
    for i, path in ((0, label), (5, missing)):
        assert f'skipping training sample {i} (' in log
        assert f'seg_map_path={path}' in log
    assert '[2/2 skip_bad_samples used]' in log
    assert 'BadSampleGuard wraps the training set (ADE20KDataset)' in log
    assert ckpts(work)[-1] == 'iter_4.pth'


def test_coco_truncated_and_missing_images(tmp_path):
    root = tmp_path / 'coco'
    load_tool('tools/dataset_converters/make_mini_coco.py').make_mini_coco(
        str(root), num_train=4, num_val=1, size=64)
    images = sorted((root / 'train2017').iterdir())
    truncate(images[0])
    images[2].unlink()
    data = [f'{s}_dataloader.dataset.data_root={root}/'
            for s in ('train', 'val', 'test')]
    data.append(f'val_evaluator.ann_file={root}/annotations/'
                'instances_val2017.json')
    cfg, work = mini_config(COCO_CFG), tmp_path / 'work'
    stopped = train(cfg, work, data, max_iters=2)
    assert stopped.returncode != 0
    err = stopped.stderr
    assert 'BadSampleError' in err and 'no checkpoint had been written ' \
        'yet' in err, err[-3000:]
    assert any(f'img_path={p}' in err for p in (images[0], images[2]))
    resumed = train(cfg, work, data, '--resume', max_iters=2,
                    opts=['skip_bad_samples.max=2'])
    log = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, log[-3000:]
    assert 'BadSampleGuard wraps the training set (CocoDataset)' in log
    assert log.count('BadSampleGuard: skipping training sample') == 2
    assert ckpts(work) == ['iter_2.pth']
