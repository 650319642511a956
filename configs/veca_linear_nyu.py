# Linear depth probe on a frozen VECA-B (DINOv2's "lin. 1" form: last layer
# + CLS, x4 bilinear upsampling, BatchNorm, 1x1 conv to 256 uniform bins in
# [0.001, 10] m, linear normalisation): NYUv2, frames rescaled to 512 px
# high and cropped 512 x 512, 40k iterations, 8 x 2 images; test: the whole
# frame at 512 x 683, Eigen crop, VECADepthMetric. The fine-tuning config's
# dataset (mmseg's NYUDataset base) and runtime with DINOv2's linear-probe
# schedule (only head parameters reach the optimizer).
_base_ = [
    './_base_/models/linear-depth_veca-b.py',
    './_base_/datasets/nyu.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/schedules/linear-probe_40k.py',
]
crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(max_depth=10.0))
default_hooks = dict(checkpoint=dict(save_best='rmse', rule='less'))

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
