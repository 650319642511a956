# A tiny VECA UPerNet on the generated mini Cityscapes set
# (tools/dataset_converters/make_mini_cityscapes.py): the Cityscapes
# headline config at toy scale, whole-image inference included.
# (../veca_upernet_cityscapes.py's bases, with the mini schedule)
_base_ = [
    '../_base_/models/upernet_veca-b.py',
    '../_base_/datasets/mini_cityscapes.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/schedules/mini_seg_600.py',
]
crop_size = (128, 256)
# test: pad to a multiple of the patch size (8), mmseg crops it back
data_preprocessor = dict(size=crop_size, test_cfg=dict(size_divisor=8))
# the headline's tiled-head whole inference
model = dict(
    _base_.tiled_whole_model,
    data_preprocessor=data_preprocessor,
    backbone=dict(
        _base_.veca_t_backbone,
        arch=dict(_base_.veca_t_arch, _delete_=True, embed_dims=64),
        out_indices=(0, 1, 2, 3)),
    neck=dict(in_channels=64, out_channels=32),
    decode_head=dict(in_channels=[32, 32, 32, 32], channels=32,
                     num_classes=19),
    auxiliary_head=dict(in_channels=32, channels=16, num_classes=19))

max_iters = 200
param_scheduler = _base_.param_scheduler
param_scheduler[0].end = 20
param_scheduler[1].update(begin=20, end=max_iters)
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(interval=max_iters))
