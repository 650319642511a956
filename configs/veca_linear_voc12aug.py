# Linear probe on a frozen VECA-B: PASCAL VOC 2012 + SBD aug (21 classes,
# 10,582 training images), 512 x 512 crops, 40k iterations, 8 x 2 images.
_base_ = [
    './_base_/models/linear_veca-b.py',
    'mmseg::_base_/datasets/pascal_voc12_aug.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/schedules/linear-probe_40k.py',
]
crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(num_classes=21))
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
