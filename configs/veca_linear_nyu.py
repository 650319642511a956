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

# the fine-tuning pipelines with frames rescaled to 512 px high; depth
# ground truth is loaded after the test resize: evaluated at full size
train_pipeline = _base_.train_pipeline
train_pipeline.insert(4, dict(type='RandomResize', scale=(683, 512),
                              ratio_range=(1.0, 1.5), keep_ratio=True))
train_pipeline[5].crop_size = crop_size
test_pipeline = _base_.test_pipeline
test_pipeline.insert(1, dict(type='Resize', scale=(683, 512), keep_ratio=True))
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
