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
    backbone=dict(
        out_indices=(3, 5, 7, 11),
        core_budgets=64,
        # nested fine-tuning, as the released models were pre-trained
        train_core_budgets=dict(
            budgets=(8, 16, 24, 32, 40, 48, 56, 64),
            weights=(1, 1, 2, 2, 3, 3, 4, 4)),
        drop_path_rate=0.1),
    neck=dict(
        type='SimplePyramidNeck',
        in_channels=768,
        out_channels=256,
        scale_factors=(4.0, 2.0, 1.0, 0.5),
        norm_cfg=dict(type='LN2d', requires_grad=True)),
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
