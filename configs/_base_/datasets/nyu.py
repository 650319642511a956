# NYUv2 depth (mmseg's NYUDataset layout and base): 480 x 480 crops,
# 480 x 640 test frames at full resolution, Eigen crop, 1e-3..10 m,
# VECADepthMetric; 2 images per GPU.
_base_ = 'mmseg::_base_/datasets/nyu.py'
crop_size = (480, 480)
max_depth = 10.0  # the metric's range (the heads take it too)

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
