# The mini KITTI set of tools/dataset_converters/make_mini_kitti.py (Eigen-split
# layout, sparse 1/256 m ground truth) at 32 x 96 crops through
# kitti.py; one worker, as the mini configs run on a CPU.
_base_ = './kitti.py'
data_root = 'data/mini_kitti/kitti'
crop_size = (32, 96)

meta_keys = ('img_path', 'depth_map_path', 'ori_shape', 'img_shape',
             'pad_shape', 'scale_factor', 'flip', 'flip_direction',
             'category_id', 'depth_rescale_factor', 'focal')
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthAnnotation', depth_rescale_factor=1 / 256),
    dict(type='RandomRotate', prob=0.5, degree=1.0, seg_pad_val=0),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
train_dataloader = dict(
    batch_size=2, num_workers=1, persistent_workers=True,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=1, persistent_workers=True,
    dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
