# VECA-B UPerNet on Cityscapes: 512x1024 crops, 80k iterations, and
# whole-image inference at 1024x2048 (no sliding window: VECA's attention is
# linear in the number of patches, so the whole image is cheap).
_base_ = [
    './_base_/models/upernet_veca-b.py',
    'mmseg::_base_/datasets/cityscapes.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/schedules/adamw-layer-decay_80k.py',
]
crop_size = (512, 1024)
data_preprocessor = dict(size=crop_size)
# Tiled-head whole inference (docs/high_resolution.md): the backbone sees the
# whole 1024x2048 image, the UPerNet head runs over 1024x1024 tiles of its
# maps (same logits as plain whole, less head memory).
model = dict(
    _base_.tiled_whole_model,
    data_preprocessor=data_preprocessor,
    decode_head=dict(num_classes=19),
    auxiliary_head=dict(num_classes=19))
train_dataloader = dict(batch_size=2)
