# VECA-B UPerNet on ADE20K, 512x512 crops, 160k iterations, 8 GPUs x 2 images.
_base_ = [
    './_base_/models/upernet_veca-b.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/schedules/adamw-layer-decay_160k.py',
]
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(num_classes=150),
    auxiliary_head=dict(num_classes=150))
train_dataloader = dict(batch_size=2)
