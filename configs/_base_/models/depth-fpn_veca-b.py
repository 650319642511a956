# VECA-B + simple pyramid neck + VECADepthHead (light FPN decoder) in mmseg's
# DepthEstimator. Depth maps are padded with 0 (= invalid), not mmseg's 255.
_base_ = './veca-b.py'
# KITTIDepthDataset, VECADepthMetric, VECADepthHead / MaskedSiLogLoss
custom_imports = dict(
    imports=['veca_mm', 'veca_mm.datasets', 'veca_mm.evaluation',
             'veca_mm.models.heads.depth_head'])

data_preprocessor = dict(
    seg_pad_val=0,
    # whole-image test: pad to a multiple of the coarsest pyramid stride;
    # DepthEstimator crops the padding off the prediction again.
    test_cfg=dict(size_divisor=32))
model = dict(
    type='DepthEstimator',
    data_preprocessor=data_preprocessor,
    # the backbone and neck of the UPerNet / Mask2Former models
    backbone=_base_.veca_b_backbone,
    neck=_base_.veca_b_neck,
    decode_head=dict(
        type='VECADepthHead',
        in_channels=[256, 256, 256, 256],
        in_index=[0, 1, 2, 3],
        channels=128,
        max_depth=10.0,
        norm_cfg=_base_.norm_cfg,
        align_corners=False,
        # masks gt <= min_depth and gt > max_depth (the head's max_depth)
        loss_decode=dict(type='MaskedSiLogLoss', min_depth=1e-3)),
    test_cfg=dict(mode='whole'))
