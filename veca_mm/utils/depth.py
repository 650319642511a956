# Copyright (c) veca_mm contributors. Apache-2.0.
"""The one rule for which depth ground-truth pixels count.

``min_depth < gt < max_depth``, the BTS / AdaBins evaluation rule, for both
the training loss (:class:`~veca_mm.models.heads.MaskedSiLogLoss`) and the
metric (:class:`~veca_mm.evaluation.VECADepthMetric`), so the model is
trained on exactly the pixels it is scored on. 0 (no LiDAR return, missing
Kinect depth) and mmseg's padding value 255 fall outside; NaN and inf do too
(every comparison with NaN is False).
"""

__all__ = ['valid_depth_mask']


def valid_depth_mask(gt, min_depth: float, max_depth: float):
    """Boolean mask of valid pixels of ``gt`` (a torch tensor or a numpy
    array; the mask is of the same kind)."""
    return (gt > min_depth) & (gt < max_depth)
