# Linear depth probe on a frozen VECA-B (DINOv2's "lin. 1" form, 256 bins
# in [0.001, 80] m): KITTI Eigen split at its native resolution (frames are
# about 375 px high: 352 x 704 crops, whole-frame test, Garg crop), 40k
# iterations, 8 x 2 images. Dataset, metric and runtime come from the
# fine-tuning config.
_base_ = ['./veca_depth-fpn_kitti.py']
max_depth = 80.0
model = dict(
    backbone=dict(
        _delete_=True,
        type='VECA',
        arch='base',  # 'small' / 'large' work unchanged (768-wide output)
        patch_size=16,
        out_indices=-1,
        core_budgets=64,
        output_cls_token=True,
        distill_proj=True,
        final_norm=True,
        frozen=True,
        init_cfg=dict(type='Pretrained',
                      checkpoint='checkpoints/veca_base.pth')),
    neck=None,
    decode_head=dict(
        _delete_=True,
        type='LinearDepthProbeHead',
        in_channels=768,
        concat_cls_token=True,
        n_bins=256,
        min_depth=1e-3,
        max_depth=max_depth,
        upsample=4,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        align_corners=False,
        loss_decode=dict(type='MaskedSiLogLoss', min_depth=1e-3)))
# The linear-probe schedule of configs/_base_/schedules/linear-probe_40k.py
# (DINOv2's; restated because the dataset base already brings a schedule):
# only head parameters reach the optimizer.
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=1e-4),
    constructor='VECALayerDecayOptimizerConstructor',
    paramwise_cfg=dict(layer_decay_rate=1.0),
    clip_grad=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
         end=1500),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=1500,
         end=40000),
]
