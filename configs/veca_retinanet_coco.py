# VECA-B RetinaNet on COCO (boxes only), ViTDet recipe: the plain stride-16
# backbone's last map -> simple feature pyramid at RetinaNet's strides
# 8, 16, 32, 64, 128 (P3-P7) -> mmdet's RetinaHead with its stock anchors,
# 1024x1024 large-scale jitter, 100 epochs, AdamW with layer-wise lr decay.
# 8 GPUs x 2 images.
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    'mmdet::common/lsj-100e_coco-detection.py',
    './_base_/models/veca_parts.py',
]
custom_imports = dict(imports=['veca_mm'], allow_failed_imports=False)

# Norm of the neck and of the head's stacked convs (ViTDet: LayerNorm);
# e.g. dict(type='GN', num_groups=32, requires_grad=True) works too.
norm_cfg = dict(type='LN2d', requires_grad=True)
image_size = (1024, 1024)
veca_embed_dims = 768
veca_num_layers = 12

model = dict(
    data_preprocessor=dict(
        # the coarsest level is stride 128: pad every batch to a multiple of
        # it, so every level is exactly input / stride; training batches are
        # padded to the fixed LSJ size (a multiple of 128).
        pad_size_divisor=128,
        batch_augments=[
            dict(type='BatchFixedSizePad', size=image_size, pad_mask=False)
        ]),
    backbone=dict(_base_.veca_b_vitdet_backbone, _delete_=True),
    # SimplePyramidNeck makes strides 8..64 (P3-P6) from the stride-16 map;
    # P7 (stride 128) is one more stride-2 3x3 conv on P6's output (after a
    # ReLU), like detectron2's RetinaNet top block (LastLevelP6P7). mmdet's FPN
    # with `add_extra_convs='on_output'` provides that conv (and light 1x1 /
    # 3x3 convs over the four levels). A list of necks is built as
    # nn.Sequential.
    neck=[
        dict(
            type='SimplePyramidNeck',
            in_channels=veca_embed_dims,
            out_channels=256,
            scale_factors=(2.0, 1.0, 0.5, 0.25),
            norm_cfg=norm_cfg),
        dict(
            type='FPN',
            in_channels=[256, 256, 256, 256],
            out_channels=256,
            start_level=0,
            add_extra_convs='on_output',
            relu_before_extra_convs=True,
            num_outs=5,
            norm_cfg=norm_cfg),
    ],
    bbox_head=dict(
        norm_cfg=norm_cfg,
        anchor_generator=dict(strides=[8, 16, 32, 64, 128])))

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomResize', scale=image_size, ratio_range=(0.1, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_type='absolute_range', crop_size=image_size,
         recompute_bbox=True, allow_negative_crop=True),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor'))
]
train_dataloader = dict(
    batch_size=2, num_workers=2,
    dataset=dict(dataset=dict(pipeline=train_pipeline)))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='CocoMetric', metric='bbox')
test_evaluator = val_evaluator

optim_wrapper = dict(_base_.veca_b_optim_wrapper, _delete_=True)

max_epochs = 25  # x4 repeated set = 100 COCO epochs
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs,
                 val_interval=5)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=250),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[22, 24], gamma=0.1)
]
default_hooks = dict(checkpoint=dict(max_keep_ckpts=2))
auto_scale_lr = dict(enable=False, base_batch_size=16)
