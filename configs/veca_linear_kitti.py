# Linear depth probe on a frozen VECA-B (DINOv2's "lin. 1" form, 256 bins
# in [0.001, 80] m): KITTI Eigen split at its native resolution (frames are
# about 375 px high: 352 x 704 crops, whole-frame test, Garg crop), 40k
# iterations, 8 x 2 images: the fine-tuning config's dataset and runtime with
# DINOv2's linear-probe schedule (only head parameters reach the optimizer).
_base_ = [
    './_base_/models/linear-depth_veca-b.py',
    './_base_/datasets/kitti.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/schedules/linear-probe_40k.py',
]
crop_size = (352, 704)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(max_depth=80.0))
default_hooks = dict(checkpoint=dict(save_best='rmse', rule='less'))
