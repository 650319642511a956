# VECA-B UPerNet for large aerial / drone images (4K and more, e.g. the
# 3648x5472 drone photographs of mmseg issue #3666), on mmseg's iSAID dataset
# base: trained on its 896x896 crops, evaluated on every image whole at its
# native size with tiled-head whole inference: the backbone sees the whole
# image (global context, VECA's cost linear in the pixels), the UPerNet neck
# and head run over 1024x1024 tiles of its maps (docs/high_resolution.md).
# mmseg's iSAID converter cuts the validation images into 896x896 patches;
# for whole-image evaluation point val at uncut images.
_base_ = [
    './_base_/models/upernet_veca-b.py',
    'mmseg::_base_/datasets/isaid.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/schedules/adamw-layer-decay_80k.py',
]
crop_size = (896, 896)
data_preprocessor = dict(size=crop_size, test_cfg=dict(size_divisor=16))
model = dict(
    _base_.tiled_whole_model,
    data_preprocessor=data_preprocessor,
    decode_head=dict(num_classes=16),
    auxiliary_head=dict(num_classes=16))
# native resolution: no Resize at test time
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
