# Copyright (c) veca_mm contributors. Apache-2.0.
"""Check a config's dataset paths before the runner is built.

A wrong ``data_root`` otherwise surfaces as a generic error from deep inside
mmseg / mmdet, after the model has been built. :func:`check_dataset_paths`
looks at the dataloader configs only (no data is read) and names every
missing path at once, with the dataset type, the layout document and the
mini-set generator that writes a small copy in that layout.
"""
import copy
import inspect
import os.path as osp

from veca_mm.utils.type_names import registered_class
from veca_mm.utils.type_names import type_name as cfg_type_name

__all__ = ['DatasetPathError', 'check_dataset_paths', 'missing_dataset_paths']

LAYOUT_DOC = 'docs/datasets.md'
_CONVERTERS = 'tools/dataset_converters'

# dataset type -> (anchor in LAYOUT_DOC, how to write a mini copy). The
# usages follow each generator's argparse; the data_root to use is the
# folder the generator writes under OUT_DIR.
_LAYOUTS = {
    'ADE20KDataset': (
        'ade20k',
        f'python {_CONVERTERS}/make_mini_ade20k.py OUT_DIR [--num-train 40] '
        '[--num-val 10] [--size 128] [--seed 0]; '
        'data_root = OUT_DIR/ADEChallengeData2016'),
    'CityscapesDataset': (
        'cityscapes',
        f'python {_CONVERTERS}/make_mini_cityscapes.py OUT_DIR '
        '[--num-train 8] [--num-val 4] [--height 128] [--width 256] '
        '[--seed 0]; data_root = OUT_DIR/cityscapes'),
    'CocoDataset': (
        'coco',
        f'python {_CONVERTERS}/make_mini_coco.py OUT_DIR [--num-train 8] '
        '[--num-val 4] [--size 128] [--seed 0]; data_root = OUT_DIR; its 3 '
        'synthetic classes are set in '
        'configs/mini/mask-rcnn_veca-t_1xb2-20_mini-coco-128x128.py'),
    'CocoPanopticDataset': (
        'coco-panoptic',
        f'python {_CONVERTERS}/make_mini_coco_panoptic.py OUT_DIR '
        '[--num-train 8] [--num-val 4] [--size 128] [--seed 0]; '
        'data_root = OUT_DIR; its 3 thing and 3 stuff classes are set in '
        'configs/mini/mask2former_veca-t_1xb2-200_mini-coco-panoptic-'
        '128x128.py'),
    'NYUDataset': (
        'nyuv2',
        f'python {_CONVERTERS}/make_mini_nyu.py OUT_DIR [--num-train 8] '
        '[--num-test 3] [--height 72] [--width 96] [--seed 0]; '
        'data_root = OUT_DIR/nyu'),
    'KITTIDepthDataset': (
        'kitti',
        f'python {_CONVERTERS}/make_mini_kitti.py OUT_DIR [--num-train 8] '
        '[--num-test 3] [--height 40] [--width 132] [--seed 0]; '
        'data_root = OUT_DIR/kitti'),
    'PascalVOCDataset': (
        'pascal-voc',
        f'python {_CONVERTERS}/make_mini_voc.py OUT_DIR [--num-train 8] '
        '[--num-aug 4] [--num-val 4] [--size 96] [--seed 0]; '
        'data_root = OUT_DIR/VOCdevkit/VOC2012'),
    'PascalContextDataset': (
        'pascal-context',
        f'python {_CONVERTERS}/make_mini_pascal_context.py OUT_DIR '
        '[--num-train 8] [--num-val 4] [--size 96] [--seed 0]; '
        'data_root = OUT_DIR/VOCdevkit/VOC2010'),
}


class DatasetPathError(FileNotFoundError):
    """A dataset path in the config does not exist (raised before any data
    is read, so the message can name the config key to fix)."""


def _layout(type_name):
    """The ``_LAYOUTS`` entry of a dataset type name, or None."""
    if 'Coco' in type_name and type_name not in _LAYOUTS:
        type_name = 'CocoDataset'  # CocoDataset and its other subclasses
    if type_name == 'PascalContextDataset59':  # same layout as the 60
        type_name = 'PascalContextDataset'
    return _LAYOUTS.get(type_name)


def layout_anchor(type_name):
    """``docs/datasets.md#anchor`` for a dataset type (no anchor if the type
    has no section of its own)."""
    layout = _layout(type_name)
    return LAYOUT_DOC if layout is None else f'{LAYOUT_DOC}#{layout[0]}'


def _is_remote(path):
    """``s3://``, ``http://``, ... paths are not on the local disk."""
    return '://' in str(path)


def _dataset_class(type_, scope):
    """The registered class of ``type_``, or None when it cannot be found
    (the check then uses the config values alone)."""
    from mmengine.registry import DATASETS
    return registered_class(DATASETS, type_, scope)


def _init_default(cls, name):
    """The default of ``__init__`` argument ``name`` along ``cls``'s MRO
    (datasets such as KITTIDepthDataset keep their ``data_prefix`` there,
    so a config that does not restate it still reads those folders)."""
    if cls is None:
        return None
    for klass in cls.__mro__:
        if '__init__' not in vars(klass):
            continue
        try:
            params = inspect.signature(vars(klass)['__init__']).parameters
        except (TypeError, ValueError):
            return None
        if name in params:
            default = params[name].default
            if default is inspect.Parameter.empty:
                return None
            return copy.deepcopy(default)
    return None


def _leaves(dataset, key):
    """(dataset cfg, config key) of every dataset inside wrappers such as
    RepeatDataset (``dataset``) and ConcatDataset (``datasets``)."""
    if not isinstance(dataset, dict):
        return
    yield dataset, key
    inner = dataset.get('dataset')
    if isinstance(inner, dict):
        yield from _leaves(inner, f'{key}.dataset')
    inners = dataset.get('datasets')
    if isinstance(inners, (list, tuple)):
        for i, inner in enumerate(inners):
            yield from _leaves(inner, f'{key}.datasets.{i}')


def _join(data_root, path):
    """Join like mmengine's ``BaseDataset._join_prefix``: relative paths go
    under ``data_root`` when it is set, absolute ones stay as they are."""
    if data_root and not osp.isabs(path):
        return osp.join(data_root, path)
    return path


def _check_one(dataset, key, scope):
    """Problems of one (non-wrapper) dataset cfg: a list of (what, path,
    description, config key to override, its placeholder value)."""
    data_root = dataset.get('data_root') or None
    ann_file = dataset.get('ann_file') or None
    data_prefix = dataset.get('data_prefix') or None
    # Conservative: only datasets that name local paths are checked.
    if data_root is None and ann_file is None and data_prefix is None:
        return []
    backend = (dataset.get('backend_args') or {}).get('backend', 'local')
    if backend != 'local':  # e.g. petrel maps local-looking paths remotely
        return []
    data_root = None if data_root is None else str(data_root)
    if data_root is not None and _is_remote(data_root):
        return []  # relative paths are joined under the remote root too

    cls = None
    if 'ann_file' not in dataset or 'data_prefix' not in dataset:
        cls = _dataset_class(dataset.get('type'), scope)
    if 'ann_file' not in dataset:
        ann_file = _init_default(cls, 'ann_file') or None
    if 'data_prefix' not in dataset:
        data_prefix = _init_default(cls, 'data_prefix') or None

    problems = []
    root_missing = data_root is not None and not osp.isdir(data_root)
    if root_missing:
        state = 'is not a directory' if osp.exists(data_root) else \
            'does not exist'
        problems.append(('data_root', data_root, state))

    def under_missing_root(path):
        # everything relative lives under the root already reported
        return root_missing and not osp.isabs(path)

    if isinstance(ann_file, str) and not _is_remote(ann_file) \
            and not under_missing_root(ann_file):
        path = _join(data_root, ann_file)
        if not osp.isfile(path):
            state = 'is not a file' if osp.exists(path) else 'does not exist'
            problems.append(('ann_file', path, state))

    if isinstance(data_prefix, str):  # mmpretrain-style single prefix
        data_prefix = {'': data_prefix}
    if isinstance(data_prefix, dict):
        for name, prefix in data_prefix.items():
            if not isinstance(prefix, str) or not prefix \
                    or _is_remote(prefix) or under_missing_root(prefix):
                continue
            path = _join(data_root, prefix)
            if not osp.isdir(path):
                what = f'data_prefix.{name}' if name else 'data_prefix'
                state = 'is not a directory' if osp.exists(path) else \
                    'does not exist'
                problems.append((what, path, state))

    def override(what, path):
        # one data_root fixes the root and everything relative below it
        if data_root is not None and (
                what == 'data_root'
                or path.startswith(osp.join(data_root, ''))):
            what, path = 'data_root', data_root
        tail = osp.basename(osp.normpath(path)) or '...'
        return f'{key}.{what}', f'/path/to/{tail}'

    return [(what, path, state) + override(what, path)
            for what, path, state in problems]


def missing_dataset_paths(dataset):
    """``(what, path, state)`` of every missing path of one dataset cfg
    (``data_root``, ``ann_file``, ``data_prefix`` values), by the same rules
    as :func:`check_dataset_paths`; ``[]`` when all exist."""
    return [p[:3] for p in _check_one(dataset, 'dataset', None)]


def check_dataset_paths(cfg, splits=('train', 'val', 'test')):
    """Raise :class:`DatasetPathError` naming every missing dataset path.

    For each ``<split>_dataloader`` of ``cfg`` (an mmengine ``Config`` or a
    dict; missing or None dataloaders are skipped) the dataset, and the
    datasets inside wrappers, are checked: ``data_root`` must be a
    directory, ``ann_file`` a file and every non-empty ``data_prefix``
    value a directory, relative paths joined to ``data_root`` as mmengine
    does and resolved against the current directory. Remote paths
    (``s3://``, ``http://``, ...) and datasets that name no path are not
    checked. Nothing is read; returns None when every path exists.
    """
    scope = cfg.get('default_scope', None)
    lines, families, overrides = [], [], {}
    relative = False
    for split in splits:
        loader = cfg.get(f'{split}_dataloader', None)
        if not isinstance(loader, dict):
            continue
        dataset = loader.get('dataset', None)
        for leaf, key in _leaves(dataset, f'{split}_dataloader.dataset'):
            problems = _check_one(leaf, key, scope)
            if not problems:
                continue
            type_name = cfg_type_name(leaf)
            if type_name not in families:
                families.append(type_name)
            for what, path, state, option, value in problems:
                lines.append(f'{split}_dataloader: {type_name} {what} '
                             f'{path!r} {state}.')
                overrides.setdefault(option, value)
                relative = relative or not osp.isabs(path)
    if not lines:
        return None

    hints, seen = [], set()
    for type_name in families:
        anchor = layout_anchor(type_name)
        if anchor in seen:
            continue
        seen.add(anchor)
        layout = _layout(type_name)
        if layout is None:
            hints.append(f'Expected layout: {anchor}')
        else:
            hints.append(f'Expected layout: {anchor} (make a small copy '
                         f'with: {layout[1]})')
    options = ' '.join(f'{k}={v}' for k, v in overrides.items())
    where = ''
    if relative:
        where = f' (relative paths are from {osp.abspath(".")})'
    raise DatasetPathError(
        f'dataset paths in the config do not exist{where}:\n' +
        '\n'.join(lines + hints) +
        f'\nor point the config at your copy: --cfg-options {options}')
