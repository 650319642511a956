# Linear probe on a frozen VECA-B: Cityscapes (19 classes), 512 x 512 crops
# of the 1024 x 2048 frames rescaled 0.5-2x, 40k iterations, 8 x 2 images;
# test: the whole 1024 x 2048 frame in 512 x 512 windows.
_base_ = [
    './_base_/models/linear_veca-b.py',
    'mmseg::_base_/datasets/cityscapes.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/schedules/linear-probe_40k.py',
]
crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(num_classes=19))
# mmseg's Cityscapes pipeline with 512 x 512 crops (its base crops 512x1024)
train_pipeline = [dict(t) for t in _base_.train_dataloader.dataset.pipeline]
train_pipeline[3].update(crop_size=crop_size)
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
