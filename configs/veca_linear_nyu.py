# Linear depth probe on a frozen VECA-B (DINOv2's "lin. 1" form: last layer
# + CLS, x4 bilinear upsampling, BatchNorm, 1x1 conv to 256 uniform bins in
# [0.001, 10] m, linear normalisation): NYUv2, frames rescaled to 512 px
# high and cropped 512 x 512, 40k iterations, 8 x 2 images; test: the whole
# frame at 512 x 683, Eigen crop, VECADepthMetric. Dataset, metric and
# runtime come from the fine-tuning config (mmseg's NYUDataset base).
_base_ = ['./veca_depth-fpn_nyu.py']
crop_size = (512, 512)
max_depth = 10.0
model = dict(
    data_preprocessor=dict(size=crop_size),
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

meta_keys = ('img_path', 'depth_map_path', 'ori_shape', 'img_shape',
             'pad_shape', 'scale_factor', 'flip', 'flip_direction',
             'category_id', 'depth_rescale_factor')
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthAnnotation', depth_rescale_factor=1e-3),
    dict(type='RandomRotate', prob=0.5, degree=2.5, seg_pad_val=0),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomResize', scale=(683, 512), ratio_range=(1.0, 1.5),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
# depth ground truth is loaded after the resize: evaluated at full size
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(683, 512), keep_ratio=True),
    dict(type='LoadDepthAnnotation', depth_rescale_factor=1e-3),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
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
