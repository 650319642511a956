# Copyright (c) veca_mm contributors. Apache-2.0.
"""KITTI monocular depth (Eigen split) in the layout the depth community uses.

NYUv2 needs nothing here: mmseg's own ``NYUDataset`` reads it.
"""
import os.path as osp
from typing import List

import mmengine
from mmengine.logging import print_log
from mmengine.registry import DATASETS
from mmseg.datasets import BaseSegDataset

from .path_checks import DatasetPathError, missing_dataset_paths

KITTI_LAYOUT = """\
expected KITTI depth layout (as BTS / AdaBins / the
Monocular-Depth-Estimation-Toolbox use it):

    DATA_ROOT/
        eigen_train_files_with_gt.txt       split files, one sample a line:
        eigen_test_files_with_gt.txt        "RGB_PATH GT_PATH FOCAL"
        input/<date>/<drive>/image_02/data/<frame>.png          RGB (KITTI raw)
        gt_depth/<drive>/proj_depth/groundtruth/image_02/<frame>.png
                                            16-bit PNG, metres = value / 256,
                                            0 = no LiDAR return

RGB_PATH is relative to DATA_ROOT/input and GT_PATH to DATA_ROOT/gt_depth;
lines whose GT_PATH is "None" (no projected LiDAR for that frame) are skipped.
tools/dataset_converters/make_mini_kitti.py writes a tiny set in this
layout."""


@DATASETS.register_module()
class KITTIDepthDataset(BaseSegDataset):
    """KITTI depth estimation, Eigen split (``eigen_*_files_with_gt.txt``).

    Each split-file line is ``RGB_PATH GT_PATH FOCAL``; lines with
    ``GT_PATH == 'None'`` have no ground truth and are skipped (the number is
    logged and kept in :attr:`num_skipped_no_gt`), as the standard 652-image
    Eigen test protocol does. Every data info carries ``img_path``,
    ``depth_map_path``, ``seg_fields``, ``category_id`` and ``focal``, like
    mmseg's ``NYUDataset``, so mmseg's ``LoadDepthAnnotation`` (use
    ``depth_rescale_factor=1 / 256``), geometric transforms, ``PackSegInputs``
    and ``DepthEstimator`` work unchanged.

    Args:
        ann_file (str): split file, relative to ``data_root``.
        data_prefix (dict): ``img_path`` (RGB root) and ``depth_map_path``
            (ground-truth root), relative to ``data_root``.
        **kwargs: the rest of :class:`mmseg.datasets.BaseSegDataset`.
    """
    METAINFO = dict(classes=('depth', ), palette=[[255, 255, 255]])

    def __init__(self,
                 ann_file: str = 'eigen_train_files_with_gt.txt',
                 data_prefix: dict = dict(
                     img_path='input', depth_map_path='gt_depth'),
                 img_suffix: str = '.png',
                 depth_map_suffix: str = '.png',
                 **kwargs) -> None:
        self.num_skipped_no_gt = 0
        super().__init__(
            ann_file=ann_file,
            data_prefix=data_prefix,
            img_suffix=img_suffix,
            seg_map_suffix=depth_map_suffix,
            **kwargs)

    def _check_layout(self) -> None:
        """The shared dataset-path check, on the paths as mmengine joined
        them (the config-level check in tools/ runs the same rules)."""
        root = self.data_root
        paths = dict(
            ann_file=self.ann_file or '',
            data_prefix={k: v for k, v in self.data_prefix.items()
                         if k in ('img_path', 'depth_map_path')})
        if root is not None and not osp.isdir(root):
            problems = missing_dataset_paths(dict(data_root=root))
        else:  # already joined to data_root: check them as they are
            problems = missing_dataset_paths(dict(
                ann_file=osp.abspath(paths['ann_file']),
                data_prefix={k: osp.abspath(v)
                             for k, v in paths['data_prefix'].items() if v}))
        if not self.ann_file:
            problems.append(('ann_file', '', 'is not set'))
        if problems:
            names = dict(data_root='data root',
                         ann_file='split file (ann_file)')
            raise DatasetPathError(
                f'{type(self).__name__}: ' + '; '.join(
                    f'{names.get(what, what + " folder")} {path!r} {state}'
                    for what, path, state in problems) + f'.\n{KITTI_LAYOUT}')

    def load_data_list(self) -> List[dict]:
        """Read the split file into data infos, skipping ``None`` GT lines."""
        self._check_layout()
        img_dir = self.data_prefix.get('img_path', '') or ''
        gt_dir = self.data_prefix.get('depth_map_path', '') or ''
        data_list = []
        skipped = 0
        lines = mmengine.list_from_file(
            self.ann_file, backend_args=self.backend_args)
        for lineno, line in enumerate(lines, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) not in (2, 3):
                raise ValueError(
                    f'{self.ann_file}:{lineno}: expected "RGB_PATH GT_PATH '
                    f'FOCAL", got {line!r}')
            rgb, gt = fields[0], fields[1]
            if gt == 'None':
                skipped += 1
                continue
            data_info = dict(
                img_path=osp.join(img_dir, rgb.lstrip('/')),
                depth_map_path=osp.join(gt_dir, gt.lstrip('/')),
                seg_fields=[],
                category_id=0,
                focal=float(fields[2]) if len(fields) == 3 else None)
            data_list.append(data_info)
        self.num_skipped_no_gt = skipped
        print_log(
            f'{type(self).__name__}: {len(data_list)} samples from '
            f'{self.ann_file}; skipped {skipped} line(s) with no ground truth '
            '(GT_PATH "None")',
            logger='current')
        if not data_list:
            raise ValueError(f'{type(self).__name__}: {self.ann_file} lists '
                             'no sample with ground truth.\n' + KITTI_LAYOUT)
        return data_list
