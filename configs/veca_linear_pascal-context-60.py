# Linear probe on a frozen VECA-B: PASCAL Context, 60 classes (background
# counted as a class), 512 x 512 crops, 40k iterations, 8 x 2 images.
_base_ = [
    './_base_/models/linear_veca-b.py',
    'mmseg::_base_/datasets/pascal_context.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/schedules/linear-probe_40k.py',
]
crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(num_classes=60))
# mmseg's Pascal Context pipeline with 512 crops (its base crops 480)
train_pipeline = [dict(t) for t in _base_.train_dataloader.dataset.pipeline]
train_pipeline[3].update(crop_size=crop_size)
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
