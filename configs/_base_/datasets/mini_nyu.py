# The mini NYUv2 set of tools/dataset_converters/make_mini_nyu.py at
# 64 x 64 crops through nyu.py (mmseg's NYUDataset); one worker, as the
# mini configs run on a CPU.
_base_ = './nyu.py'
data_root = 'data/mini_nyu/nyu'
crop_size = (64, 64)

meta_keys = ('img_path', 'depth_map_path', 'ori_shape', 'img_shape',
             'pad_shape', 'scale_factor', 'flip', 'flip_direction',
             'category_id', 'depth_rescale_factor')
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthAnnotation', depth_rescale_factor=1e-3),
    dict(type='RandomRotate', prob=0.5, degree=2.5, seg_pad_val=0),
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
