# VECA-B depth (FPN depth head) on NYUv2 (mmseg NYUDataset layout), 480x480
# crops, 40k iterations, 8 GPUs x 2 images; Eigen crop, 1e-3..10 m.
_base_ = [
    './_base_/models/depth-fpn_veca-b.py',
    'mmseg::_base_/datasets/nyu.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_40k.py',
]
crop_size = (480, 480)
max_depth = 10.0
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(max_depth=max_depth))

meta_keys = ('img_path', 'depth_map_path', 'ori_shape', 'img_shape',
             'pad_shape', 'scale_factor', 'flip', 'flip_direction',
             'category_id', 'depth_rescale_factor')
# RandomRotate/RandomFlip/RandomCrop move every key in `seg_fields`, which
# LoadDepthAnnotation fills with 'gt_depth_map'; rotation borders are 0
# (= invalid depth).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthAnnotation', depth_rescale_factor=1e-3),
    dict(type='RandomRotate', prob=0.5, degree=2.5, seg_pad_val=0),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
# NYUv2 test frames are 480x640: predicted at full resolution
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthAnnotation', depth_rescale_factor=1e-3),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    _delete_=True,
    type='VECADepthMetric',
    min_depth=1e-3,
    max_depth=max_depth,
    crop='eigen',
    depth_scale=1000)  # output_dir PNGs in millimetres, like the dataset
test_evaluator = val_evaluator

# AdamW with layer-wise lr decay over VECA's 12 layers.
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='VECALayerDecayOptimizerConstructor',
    paramwise_cfg=dict(num_layers=12, layer_decay_rate=0.9),
    clip_grad=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
         end=1500),
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=False, begin=1500,
         end=40000),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=40000,
                 val_interval=4000)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=4000,
                    max_keep_ckpts=2, save_best='rmse', rule='less'))
