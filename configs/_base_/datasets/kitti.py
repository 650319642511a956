# KITTI depth, Eigen split (652 test images with ground truth): 352 x 704
# crops, full-resolution test frames, Garg crop, 1e-3..80 m, through
# KITTIDepthDataset and VECADepthMetric; 2 images per GPU.
dataset_type = 'KITTIDepthDataset'
data_root = 'data/kitti'  # layout: veca_mm/datasets/kitti_depth.py
crop_size = (352, 704)
max_depth = 80.0  # the metric's range (the heads take it too)

meta_keys = ('img_path', 'depth_map_path', 'ori_shape', 'img_shape',
             'pad_shape', 'scale_factor', 'flip', 'flip_direction',
             'category_id', 'depth_rescale_factor', 'focal')
# RandomRotate/RandomFlip/RandomCrop move every key in `seg_fields`, which
# LoadDepthAnnotation fills with 'gt_depth_map'; rotation borders are 0
# (= no LiDAR return).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthAnnotation', depth_rescale_factor=1 / 256),
    dict(type='RandomRotate', prob=0.5, degree=1.0, seg_pad_val=0),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
# full-resolution frames (~375x1242), padded to a multiple of 32
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthAnnotation', depth_rescale_factor=1 / 256),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='eigen_train_files_with_gt.txt',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='eigen_test_files_with_gt.txt',
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='VECADepthMetric',
    min_depth=1e-3,
    max_depth=max_depth,
    crop='garg',
    depth_scale=256)  # output_dir PNGs in KITTI's 1/256 m units
test_evaluator = val_evaluator
