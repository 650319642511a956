"""``check_dataset_paths``: a config pointing at a missing dataset fails
before the runner is built, naming the path and the layout document.

Only configs and the mini generators are used (no training, no data read).
"""
import os
import re
import shutil

import pytest
from mmengine.config import Config

# (importing veca_mm.datasets also registers KITTIDepthDataset)
from veca_mm.datasets import DatasetPathError, check_dataset_paths
from veca_mm.datasets.path_checks import _LAYOUTS, layout_anchor

from .conftest import REPO, load_tool, mini_ade20k

CONFIGS = REPO / 'configs' / 'mini'
ADE_CFG = CONFIGS / 'upernet_veca-t_1xb4-600_mini-ade20k-96x96.py'
COCO_CFG = CONFIGS / 'mask-rcnn_veca-t_1xb2-20_mini-coco-128x128.py'
CITY_CFG = CONFIGS / 'upernet_veca-t_1xb2-200_mini-cityscapes-128x256.py'
NYU_CFG = CONFIGS / 'depth-fpn_veca-t_1xb2-20_mini-nyu-64x64.py'
KITTI_CFG = CONFIGS / 'depth-fpn_veca-t_1xb2-20_mini-kitti-32x96.py'
SPLITS = ('train', 'val', 'test')


def _cfg(path, data_root):
    cfg = Config.fromfile(path)
    cfg.merge_from_dict({f'{split}_dataloader.dataset.data_root': data_root
                         for split in SPLITS})
    return cfg


def _error(cfg):
    with pytest.raises(DatasetPathError) as info:
        check_dataset_paths(cfg)
    assert isinstance(info.value, FileNotFoundError)
    return str(info.value)


def _missing_lines(message):
    return [line for line in message.splitlines()
            if line.endswith(('does not exist.', 'is not a directory.',
                              'is not a file.'))]


def _copy_without(src, tmp_path, name, missing):
    """A copy of the set ``src`` at ``tmp_path/name`` without the file or
    folder ``missing`` (relative to the copy); returns the copy's root."""
    root = str(tmp_path / name)
    shutil.copytree(src, root)
    gone = os.path.join(root, missing)
    (shutil.rmtree if os.path.isdir(gone) else os.remove)(gone)
    return root


@pytest.fixture(scope='module')
def ade_root(tmp_path_factory):
    return mini_ade20k(tmp_path_factory, num_train=2, num_val=1, size=64)


@pytest.fixture(scope='module')
def coco_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('coco'))
    gen = load_tool('tools/dataset_converters/make_mini_coco.py')
    gen.make_mini_coco(root, num_train=1, num_val=1, size=64)
    return root


def test_ade20k_passes(ade_root):
    assert check_dataset_paths(_cfg(ADE_CFG, ade_root)) is None


def test_ade20k_missing_root(tmp_path):
    root = str(tmp_path / 'nowhere' / 'ADEChallengeData2016')
    msg = _error(_cfg(ADE_CFG, root))
    assert (f"train_dataloader: ADE20KDataset data_root '{root}' does not "
            'exist.') in msg
    assert f"val_dataloader: ADE20KDataset data_root '{root}'" in msg
    # the root only: the folders below it are not listed on top
    assert len(_missing_lines(msg)) == 3
    assert 'docs/datasets.md#ade20k' in msg
    assert 'python tools/dataset_converters/make_mini_ade20k.py OUT_DIR' \
        in msg
    assert ('--cfg-options train_dataloader.dataset.data_root='
            '/path/to/ADEChallengeData2016') in msg


def test_ade20k_missing_one_folder(ade_root, tmp_path):
    root = _copy_without(ade_root, tmp_path, 'ADEChallengeData2016',
                         'annotations/validation')
    msg = _error(_cfg(ADE_CFG, root))
    missing = os.path.join(root, 'annotations/validation')
    lines = _missing_lines(msg)
    # val and test read it; train is fine
    assert lines == [
        f"{split}_dataloader: ADE20KDataset data_prefix.seg_map_path "
        f"'{missing}' does not exist." for split in ('val', 'test')
    ]
    assert 'docs/datasets.md#ade20k' in msg


def test_only_requested_splits(ade_root, tmp_path):
    root = _copy_without(ade_root, tmp_path, 'ADEChallengeData2016',
                         'annotations/validation')
    cfg = _cfg(ADE_CFG, root)
    assert check_dataset_paths(cfg, splits=('train', )) is None
    cfg.val_dataloader = None  # e.g. a config without validation
    cfg.pop('test_dataloader')
    assert check_dataset_paths(cfg) is None


def test_relative_paths_follow_cwd(ade_root, tmp_path, monkeypatch):
    monkeypatch.chdir(os.path.dirname(ade_root))
    check_dataset_paths(_cfg(ADE_CFG, 'ADEChallengeData2016'))
    monkeypatch.chdir(tmp_path)
    msg = _error(_cfg(ADE_CFG, 'ADEChallengeData2016'))
    assert "data_root 'ADEChallengeData2016' does not exist." in msg
    assert str(tmp_path) in msg  # says where relative paths start


def test_remote_paths_skipped(tmp_path):
    # a local root that does not exist fails; the same layout on s3:// is
    # not looked at (nothing local to check), so it passes
    with pytest.raises(DatasetPathError):
        check_dataset_paths(_cfg(ADE_CFG, str(tmp_path / 'missing')))
    assert check_dataset_paths(
        _cfg(ADE_CFG, 's3://bucket/ADEChallengeData2016')) is None


def test_coco_passes(coco_root):
    assert check_dataset_paths(_cfg(COCO_CFG, coco_root)) is None


def test_coco_missing_ann_file(coco_root, tmp_path):
    root = _copy_without(coco_root, tmp_path, 'coco',
                         'annotations/instances_train2017.json')
    msg = _error(_cfg(COCO_CFG, root))
    ann = os.path.join(root, 'annotations/instances_train2017.json')
    assert _missing_lines(msg) == [
        f"train_dataloader: CocoDataset ann_file '{ann}' does not exist."]
    assert 'docs/datasets.md#coco' in msg
    assert 'make_mini_coco.py OUT_DIR' in msg


def test_coco_missing_image_folder(coco_root, tmp_path):
    root = _copy_without(coco_root, tmp_path, 'coco', 'val2017')
    lines = _missing_lines(_error(_cfg(COCO_CFG, root)))
    assert len(lines) == 2 and all(
        "CocoDataset data_prefix.img '" + os.path.join(root, 'val2017/')
        in line for line in lines)


def test_coco_repeat_dataset_wrapper(coco_root, tmp_path):
    """The full COCO configs wrap the training set in a RepeatDataset."""
    cfg = Config.fromfile(REPO / 'configs' / 'veca_mask-rcnn_coco.py')
    assert cfg.train_dataloader.dataset.type == 'RepeatDataset'
    cfg.merge_from_dict({
        'train_dataloader.dataset.dataset.data_root': coco_root,
        'val_dataloader.dataset.data_root': coco_root,
        'test_dataloader.dataset.data_root': coco_root})
    check_dataset_paths(cfg)
    missing = str(tmp_path / 'coco')
    cfg.merge_from_dict({'train_dataloader.dataset.dataset.data_root':
                         missing})
    msg = _error(cfg)
    assert _missing_lines(msg) == [
        f"train_dataloader: CocoDataset data_root '{missing}' does not "
        'exist.']
    assert 'train_dataloader.dataset.dataset.data_root=/path/to/coco' in msg


def test_concat_dataset_wrapper(ade_root, tmp_path):
    missing = str(tmp_path / 'other')
    cfg = Config.fromfile(ADE_CFG)
    inner = dict(cfg.train_dataloader.dataset)
    cfg.train_dataloader.dataset = dict(
        type='ConcatDataset',
        datasets=[dict(inner, data_root=ade_root),
                  dict(inner, data_root=missing)])
    msg = _error(cfg)
    assert f"train_dataloader: ADE20KDataset data_root '{missing}'" in msg
    assert 'train_dataloader.dataset.datasets.1.data_root=' in msg


def test_all_splits_in_one_error(tmp_path):
    """Every missing path is listed at once, train and val alike."""
    cfg = _cfg(ADE_CFG, str(tmp_path / 'a'))
    cfg.val_dataloader.dataset.data_root = str(tmp_path / 'b')
    lines = _missing_lines(_error(cfg))
    assert [line.split(':')[0] for line in lines] == [
        'train_dataloader', 'val_dataloader', 'test_dataloader']
    assert str(tmp_path / 'a') in lines[0] and str(tmp_path / 'b') in lines[1]


@pytest.mark.parametrize('path, type_name, anchor, script', [
    (CITY_CFG, 'CityscapesDataset', 'cityscapes', 'make_mini_cityscapes'),
    (NYU_CFG, 'NYUDataset', 'nyuv2', 'make_mini_nyu'),
    (KITTI_CFG, 'KITTIDepthDataset', 'kitti', 'make_mini_kitti'),
], ids=['cityscapes', 'nyu', 'kitti'])
def test_missing_root(path, type_name, anchor, script, tmp_path):
    root = str(tmp_path / 'missing')
    msg = _error(_cfg(path, root))
    assert (f"train_dataloader: {type_name} data_root '{root}' does not "
            'exist.') in msg
    assert f'docs/datasets.md#{anchor} ' in msg
    assert f'python tools/dataset_converters/{script}.py OUT_DIR' in msg


def test_kitti_default_prefix_checked(tmp_path):
    """KITTIDepthDataset's data_prefix comes from its __init__ default, not
    from the config; a missing gt_depth/ is still found."""
    gen = load_tool('tools/dataset_converters/make_mini_kitti.py')
    root = gen.make_mini_kitti(str(tmp_path), num_train=1, num_test=1,
                               height=16, width=48)
    cfg = _cfg(KITTI_CFG, root)
    check_dataset_paths(cfg)
    shutil.rmtree(os.path.join(root, 'gt_depth'))
    lines = _missing_lines(_error(cfg))
    assert len(lines) == 3 and all(
        "KITTIDepthDataset data_prefix.depth_map_path '" +
        os.path.join(root, 'gt_depth') + "'" in line for line in lines)


def test_hints_match_generators(capsys):
    """Each hint's options are the generator's own argparse options (as its
    --help lists them)."""
    for dataset_type, (_, usage) in _LAYOUTS.items():
        script = re.search(r'tools/dataset_converters/(\S+\.py)', usage)[1]
        with pytest.raises(SystemExit):
            load_tool(f'tools/dataset_converters/{script}').main(['--help'])
        options = set(re.findall(r'(--[\w-]+)', capsys.readouterr().out))
        assert set(re.findall(r'\[(--[\w-]+) ', usage)) == options - {
            '--help'}, dataset_type


def test_doc_has_every_anchor():
    """Every anchor the error message can point at is a heading of
    docs/datasets.md (GitHub-style anchors: lower case, spaces to '-')."""
    doc = (REPO / 'docs' / 'datasets.md').read_text()
    headings = {
        re.sub(r'[^\w\- ]', '', line.lstrip('#').strip().lower()).replace(
            ' ', '-')
        for line in doc.splitlines() if line.startswith('#')}
    names = ('ADE20KDataset', 'CityscapesDataset', 'CocoDataset',
             'CocoPanopticDataset', 'NYUDataset', 'KITTIDepthDataset',
             'PascalVOCDataset', 'PascalContextDataset',
             'PascalContextDataset59')
    anchors = {layout_anchor(name) for name in names}
    assert anchors == {f'docs/datasets.md#{a}'
                       for a, _ in _LAYOUTS.values()}
    for anchor in anchors:
        assert anchor.split('#')[1] in headings, anchor
    assert layout_anchor('iSAIDDataset') == 'docs/datasets.md'


def test_kitti_dataset_uses_the_same_checker(tmp_path):
    """One dataset-path checker: KITTIDepthDataset's own check raises the
    config check's DatasetPathError, from the same rules."""
    from veca_mm.datasets import KITTIDepthDataset
    from veca_mm.datasets.path_checks import missing_dataset_paths
    gen = load_tool('tools/dataset_converters/make_mini_kitti.py')
    root = gen.make_mini_kitti(str(tmp_path), num_train=1, num_test=1,
                               height=16, width=48)
    shutil.rmtree(os.path.join(root, 'gt_depth'))
    assert missing_dataset_paths(dict(
        data_root=root, ann_file='eigen_train_files_with_gt.txt',
        data_prefix=dict(img_path='input', depth_map_path='gt_depth'))) == [
            ('data_prefix.depth_map_path', os.path.join(root, 'gt_depth'),
             'does not exist')]
    with pytest.raises(DatasetPathError, match=r"depth_map_path folder '.*"
                       r"gt_depth' does not exist"):
        KITTIDepthDataset(data_root=root)


def test_one_type_name_helper():
    from mmengine.hooks import CheckpointHook

    from veca_mm.utils.type_names import type_name
    for t in ('CheckpointHook', 'mmengine.CheckpointHook', CheckpointHook,
              dict(type='mmengine.CheckpointHook'),
              dict(type=CheckpointHook)):
        assert type_name(t) == 'CheckpointHook', t
