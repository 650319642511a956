# Mini KITTI: the linear depth probe of ../veca_linear_kitti.py on a tiny
# frozen VECA, on the mini set tools/dataset_converters/make_mini_kitti.py
# writes (Eigen-split layout, sparse 1/256 m ground truth), through
# KITTIDepthDataset, mmseg's depth pipeline and DepthEstimator and
# VECADepthMetric (Garg crop). Seconds on 2 CPU cores.
_base_ = [
    '../_base_/models/linear-depth_veca-t.py',
    '../_base_/datasets/mini_kitti.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/schedules/mini_linear-probe_40.py',
]
crop_size = (32, 96)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(max_depth=80.0))

# the probe trains without rotation and colour jitter
meta_keys = ('img_path', 'depth_map_path', 'ori_shape', 'img_shape',
             'pad_shape', 'scale_factor', 'flip', 'flip_direction',
             'category_id', 'depth_rescale_factor', 'focal')
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthAnnotation', depth_rescale_factor=1 / 256),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
