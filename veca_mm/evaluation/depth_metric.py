# Copyright (c) veca_mm contributors. Apache-2.0.
"""Monocular depth metrics, per image then averaged (BTS / AdaBins protocol).

How this differs from mmseg 1.2.2's ``DepthMetric`` (which also averages per
image):

* ``silog`` is the BTS/KITTI-benchmark one, ``100 * sqrt(mean(d^2) -
  mean(d)^2)`` with ``d = log(pred) - log(gt)``; mmseg reports
  ``sqrt(mean(d^2) - 0.5 * mean(d)^2)`` (its training loss, lambda = 0.5,
  not x100), so the two numbers are not comparable.
* predictions are clipped to ``[min_depth, max_depth]`` (and NaN/inf
  replaced) before scoring, as BTS/AdaBins/the Toolbox do; mmseg scores the
  raw output (a zero prediction gives inf/NaN logs).
* crops: NYU Eigen (``'eigen'``) and KITTI Garg (``'garg'``), both as
  fractions of the ground-truth size (exact BTS indices at 480x640 and at
  KITTI resolution); mmseg only has ``'nyu_crop'`` with fixed indices
  ``[45:471, 41:601]`` whatever the image size, and no KITTI crop.
* an image with no valid pixel is left out of the average (and counted in
  the log); in mmseg its NaNs make every averaged metric NaN.
* ``depth_metrics=[...]`` works (mmseg's ``isinstance(x, [tuple, list])``
  raises TypeError for any explicit list).
* ``output_dir`` writes ``<name>_depth.png`` (uint16 in the dataset's scale,
  clipped to 0..65535) and ``<name>_depth_color.png``; mmseg writes
  ``<name>.png`` uint16 with no clipping (overflow wraps around) and KITTI
  frame names from different drives overwrite each other.
* per-image metrics are kept, not the whole masked ground-truth and
  prediction tensors (memory on large test sets).
"""
import logging
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
import torch.nn.functional as F
from mmengine.dist import is_main_process
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from mmengine.registry import METRICS
from mmengine.utils import mkdir_or_exist
from prettytable import PrettyTable

from veca_mm.utils.checks import check_bool, check_number
from veca_mm.utils.depth import valid_depth_mask

# (top, bottom, left, right) as fractions of the ground-truth height / width.
# NYU Eigen crop: rows 45:471, columns 41:601 of the 480 x 640 frames.
# KITTI Garg crop (Garg et al. 2016, as in BTS / AdaBins / the Toolbox).
CROPS = {
    'eigen': (45 / 480, 471 / 480, 41 / 640, 601 / 640),
    'garg': (0.40810811, 0.99189189, 0.03594771, 0.96405229),
}
METRIC_NAMES = ('d1', 'd2', 'd3', 'abs_rel', 'sq_rel', 'rmse', 'rmse_log',
                'log10', 'silog')
_KITTI_FRAME = re.compile(r'([^/\\]+)[/\\]image_0\d[/\\]data[/\\]([^/\\]+)$')


def crop_mask(shape, crop: Optional[str]) -> np.ndarray:
    """Boolean ``H x W`` evaluation-crop mask (all True for ``crop=None``)."""
    h, w = shape
    mask = np.zeros((h, w), bool)
    if crop is None:
        mask[:] = True
        return mask
    top, bottom, left, right = CROPS[crop]
    # int() as BTS does (the 1e-9 guards 45/480*480 -> 44.999..): exact BTS
    # indices at the native sizes (45:471, 41:601 at 480 x 640; 153:371,
    # 44:1197 at KITTI's 375 x 1242), proportional elsewhere.
    mask[int(top * h + 1e-9):int(bottom * h + 1e-9),
         int(left * w + 1e-9):int(right * w + 1e-9)] = True
    return mask


def depth_errors(gt: np.ndarray, pred: np.ndarray) -> Dict[str, float]:
    """The standard metrics of one image, over already-valid pixels."""
    gt = gt.astype(np.float64)
    pred = pred.astype(np.float64)
    thresh = np.maximum(gt / pred, pred / gt)
    diff = pred - gt
    err_log = np.log(pred) - np.log(gt)
    return dict(
        d1=float((thresh < 1.25).mean()),
        d2=float((thresh < 1.25**2).mean()),
        d3=float((thresh < 1.25**3).mean()),
        abs_rel=float(np.mean(np.abs(diff) / gt)),
        sq_rel=float(np.mean(diff**2 / gt)),
        rmse=float(np.sqrt(np.mean(diff**2))),
        rmse_log=float(np.sqrt(np.mean(err_log**2))),
        log10=float(np.mean(np.abs(np.log10(pred) - np.log10(gt)))),
        silog=float(100 * np.sqrt(
            max(np.mean(err_log**2) - np.mean(err_log)**2, 0.0))))


@METRICS.register_module()
class VECADepthMetric(BaseMetric):
    """Depth metrics per image over valid pixels, then the mean over images.

    Valid pixels: ``min_depth < gt < max_depth`` inside the optional crop
    (:func:`veca_mm.utils.depth.valid_depth_mask`, the loss's rule too).
    Reported: ``d1, d2, d3`` (delta < 1.25, 1.25^2, 1.25^3), ``abs_rel,
    sq_rel, rmse, rmse_log, log10, silog`` (BTS definitions, silog x 100).

    Args:
        min_depth (float): Lower end of the valid ground-truth range
            (metres), also the lower clip of predictions (``clip_pred``).
            Defaults to 1e-3.
        max_depth (float): Upper end of that range. Defaults to 10.0.
        crop (str, optional): ``'eigen'`` (NYUv2 Eigen crop), ``'garg'``
            (KITTI Garg crop) or None. Defaults to None.
        clip_pred (bool): Clip predictions to ``[min_depth, max_depth]``.
            Defaults to True.
        depth_metrics (Sequence[str], optional): Subset of the metrics;
            None for all. Defaults to None.
        output_dir (str, optional): Write ``<name>_depth.png`` (uint16,
            metres x ``depth_scale``) and ``<name>_depth_color.png`` per
            image; ``<name>`` is the image file stem (``<drive>_<frame>`` for
            KITTI ``.../<drive>/image_0X/data/<frame>.png`` paths).
            Defaults to None.
        depth_scale (float, optional): PNG units per metre (1000 NYUv2, 256
            KITTI); None takes ``1 / depth_rescale_factor`` from the sample's
            metainfo (``LoadDepthAnnotation``), else 1000. Defaults to None.
        format_only (bool): Only write ``output_dir``, compute nothing.
            Defaults to False.
        keep_results (bool): Accepted for ``tools/test.py --out``; metrics
            are computed whenever ``format_only`` is False. Defaults to False.
        collect_device (str): mmengine's, for distributed collection.
            Defaults to 'cpu'.
        prefix (str, optional): mmengine's metric-name prefix.
            Defaults to None.
        collect_dir (str, optional): mmengine's collection folder.
            Defaults to None.
    """
    default_prefix: Optional[str] = None

    def __init__(self,
                 min_depth: float = 1e-3,
                 max_depth: float = 10.0,
                 crop: Optional[str] = None,
                 clip_pred: bool = True,
                 depth_metrics: Optional[Sequence[str]] = None,
                 output_dir: Optional[str] = None,
                 depth_scale: Optional[float] = None,
                 format_only: bool = False,
                 keep_results: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None,
                 **kwargs) -> None:
        if kwargs:
            raise TypeError(
                f'VECADepthMetric got unknown argument(s) {sorted(kwargs)}; '
                'it takes min_depth, max_depth, crop, clip_pred, '
                'depth_metrics, output_dir, depth_scale, format_only, '
                'keep_results, collect_device, prefix, collect_dir. Check '
                'the spelling.')
        super().__init__(collect_device=collect_device, prefix=prefix,
                         collect_dir=collect_dir)
        if crop is not None and (not isinstance(crop, str)
                                 or crop not in CROPS):
            raise ValueError(f'crop must be None or one of {sorted(CROPS)}, '
                             f'got {crop!r}')
        owner = 'VECADepthMetric'
        check_number('min_depth', min_depth, lo=0, owner=owner)
        check_number('max_depth', max_depth, owner=owner)
        if not 0 <= min_depth < max_depth:
            raise ValueError('need 0 <= min_depth < max_depth, got '
                             f'{min_depth}, {max_depth}')
        for name, flag in (('clip_pred', clip_pred),
                           ('format_only', format_only),
                           ('keep_results', keep_results)):
            check_bool(name, flag, owner=owner)
        check_number('depth_scale', depth_scale, lo=0, lo_open=True,
                     allow_none=True, owner=owner)
        if output_dir is not None and not isinstance(output_dir, str):
            raise TypeError(f'{owner}: output_dir={output_dir!r} must be a '
                            'path (str) or None.')
        if depth_metrics is None:
            depth_metrics = METRIC_NAMES
        if not isinstance(depth_metrics, (list, tuple)) or not all(
                isinstance(m, str) for m in depth_metrics):
            raise TypeError(f'{owner}: depth_metrics={depth_metrics!r} must '
                            f'be a list of names from {METRIC_NAMES}.')
        unknown = set(depth_metrics) - set(METRIC_NAMES)
        if unknown:
            raise ValueError(f'unknown depth metrics {sorted(unknown)}; '
                             f'choose from {METRIC_NAMES}')
        if format_only and not output_dir:
            raise ValueError('format_only=True needs an output_dir')
        self.metrics = tuple(depth_metrics)
        self.min_depth, self.max_depth = float(min_depth), float(max_depth)
        self.crop = crop
        self.clip_pred = clip_pred
        self.output_dir = output_dir
        self.depth_scale = depth_scale
        self.format_only = format_only
        self.keep_results = keep_results
        if output_dir and is_main_process():
            mkdir_or_exist(output_dir)

    # -- helpers ----------------------------------------------------------
    def eval_mask(self, gt: np.ndarray) -> np.ndarray:
        valid = valid_depth_mask(gt, self.min_depth, self.max_depth)
        return valid & crop_mask(gt.shape, self.crop)

    def image_metrics(self, gt: np.ndarray,
                      pred: np.ndarray) -> Optional[Dict[str, float]]:
        """Metrics of one ``H x W`` image; None if no pixel is valid."""
        if pred.shape != gt.shape:
            raise ValueError(f'prediction {pred.shape} and ground truth '
                             f'{gt.shape} differ in size')
        pred = self._clean(pred)
        mask = self.eval_mask(gt)
        if not mask.any():
            return None
        return depth_errors(gt[mask], pred[mask])

    def _clean(self, pred: np.ndarray) -> np.ndarray:
        pred = pred.astype(np.float64)
        if self.clip_pred:
            pred = np.nan_to_num(
                pred, nan=self.min_depth, posinf=self.max_depth,
                neginf=self.min_depth)
            pred = np.clip(pred, self.min_depth, self.max_depth)
        return pred

    @staticmethod
    def output_name(img_path: str) -> str:
        found = _KITTI_FRAME.search(img_path)
        if found:  # KITTI frame numbers repeat across drives
            return f'{found.group(1)}_{osp.splitext(found.group(2))[0]}'
        return osp.splitext(osp.basename(img_path))[0]

    def _save(self, pred: np.ndarray, data_sample: dict) -> None:
        scale = self.depth_scale
        if scale is None:
            factor = data_sample.get('depth_rescale_factor', None)
            scale = 1.0 / factor if factor else 1000.0
        name = self.output_name(data_sample.get('img_path', 'depth'))
        pred = np.clip(np.nan_to_num(pred, nan=0.0), 0, None)
        png = np.clip(np.round(pred * scale), 0, 65535).astype(np.uint16)
        cv2.imwrite(osp.join(self.output_dir, f'{name}_depth.png'), png)
        norm = np.clip(pred / self.max_depth, 0, 1)
        color = cv2.applyColorMap((norm * 255).astype(np.uint8),
                                  cv2.COLORMAP_MAGMA)
        cv2.imwrite(osp.join(self.output_dir, f'{name}_depth_color.png'),
                    color)

    # -- BaseMetric -------------------------------------------------------
    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        for data_sample in data_samples:
            pred = data_sample['pred_depth_map']['data']
            if not self.format_only:
                gt = data_sample['gt_depth_map']['data']
                if pred.shape[-2:] != gt.shape[-2:]:
                    pred = F.interpolate(
                        pred.reshape(1, 1, *pred.shape[-2:]).float(),
                        size=gt.shape[-2:], mode='bilinear',
                        align_corners=False)
                gt = gt.squeeze().float().cpu().numpy()
                pred_np = pred.squeeze().float().cpu().numpy()
                self.results.append(self.image_metrics(gt, pred_np))
            else:
                pred_np = pred.squeeze().float().cpu().numpy()
            if self.output_dir:
                self._save(pred_np, data_sample)

    def compute_metrics(self, results: List[Optional[dict]]
                        ) -> Dict[str, float]:
        logger: MMLogger = MMLogger.get_current_instance()
        if self.format_only:
            logger.info(f'depth predictions saved to {self.output_dir}')
            return OrderedDict()
        scored = [r for r in results if r is not None]
        empty = len(results) - len(scored)
        if empty:
            print_log(
                f'VECADepthMetric: {empty} of {len(results)} image(s) have no '
                f'valid ground-truth pixel ({self.min_depth} < gt < '
                f'{self.max_depth}, crop={self.crop}) and are not averaged',
                logger=logger, level=logging.WARNING)
        if not scored:
            raise ValueError('VECADepthMetric: no image has a valid '
                             'ground-truth pixel; check min_depth/max_depth '
                             'and the depth scale')
        metrics = OrderedDict(
            (k, float(np.mean([r[k] for r in scored]))) for k in self.metrics)
        table = PrettyTable()
        for key, val in metrics.items():
            table.add_column(key, [round(val, 5)])
        print_log(
            f'depth metrics over {len(scored)} image(s) (per image, then '
            f'averaged; crop={self.crop}):\n' + table.get_string(),
            logger=logger)
        return metrics
