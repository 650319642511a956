# VECA-B Mask R-CNN on COCO, ViTDet recipe: the plain stride-16 backbone's
# last map -> simple feature pyramid (strides 4..64) -> mmdet's RPN and
# RoI heads (boxes + masks), 1024x1024 large-scale jitter, 100 epochs,
# AdamW with layer-wise lr decay. 8 GPUs x 2 images.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::common/lsj-100e_coco-instance.py',
    './_base_/models/veca_parts.py',
]
custom_imports = dict(imports=['veca_mm'], allow_failed_imports=False)

# Norm of the neck and of the convs in the RoI heads. LayerNorm over the
# channels of NCHW maps works on any device and batch size; for BN-style
# heads use e.g. dict(type='SyncBN', requires_grad=True) (multi-GPU only)
# or GN: dict(type='GN', num_groups=32, requires_grad=True).
norm_cfg = dict(type='LN2d', requires_grad=True)
image_size = (1024, 1024)
veca_embed_dims = 768
veca_num_layers = 12

model = dict(
    data_preprocessor=dict(
        # the neck's coarsest level is stride 64: pad every batch to a
        # multiple of it (any test size works); training batches are padded
        # to the fixed LSJ size.
        pad_size_divisor=64,
        batch_augments=[
            dict(type='BatchFixedSizePad', size=image_size, pad_mask=True)
        ]),
    # ViTDet: the pyramid is built from the last map only; nested
    # fine-tuning over core budgets, so one model serves every budget
    backbone=dict(_base_.veca_b_vitdet_backbone, _delete_=True),
    # strides 4, 8, 16, 32, 64 from the stride-16 map
    neck=dict(_base_.veca_b_neck, _delete_=True, in_channels=veca_embed_dims,
              scale_factors=(4.0, 2.0, 1.0, 0.5, 0.25), norm_cfg=norm_cfg),
    rpn_head=dict(
        num_convs=2,
        anchor_generator=dict(strides=[4, 8, 16, 32, 64])),
    roi_head=dict(
        # RoIs are pooled from the four finest levels (the FPN / ViTDet
        # rule, p2-p5); the stride-64 level feeds the RPN only.
        bbox_roi_extractor=dict(featmap_strides=[4, 8, 16, 32]),
        bbox_head=dict(
            type='Shared4Conv1FCBBoxHead',
            conv_out_channels=256,
            norm_cfg=norm_cfg),
        mask_roi_extractor=dict(featmap_strides=[4, 8, 16, 32]),
        mask_head=dict(norm_cfg=norm_cfg)))

# large-scale jitter (as the base, restated so derived configs can resize it)
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=image_size, ratio_range=(0.1, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_type='absolute_range', crop_size=image_size,
         recompute_bbox=True, allow_negative_crop=True),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
# ViTDet tests at the training size (long side 1024)
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor'))
]
train_dataloader = dict(
    batch_size=2, num_workers=2,
    dataset=dict(dataset=dict(pipeline=train_pipeline)))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='CocoMetric', metric=['bbox', 'segm'])
test_evaluator = val_evaluator

# AdamW + layer-wise lr decay over VECA's layers (ViTDet: 1e-4, 0.1, 0.7)
optim_wrapper = dict(_base_.veca_b_optim_wrapper, _delete_=True)

# 25 epochs over the 4x repeated set = 100 COCO epochs; decay at 88 and 96
max_epochs = 25
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs,
                 val_interval=5)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=250),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[22, 24], gamma=0.1)
]
default_hooks = dict(checkpoint=dict(max_keep_ckpts=2))
# lr above is for 8 GPUs x 2 images; `--auto-scale-lr` rescales it
auto_scale_lr = dict(enable=False, base_batch_size=16)
