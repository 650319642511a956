# VECA-B depth (FPN depth head) on NYUv2 (mmseg NYUDataset layout), 480x480
# crops, 40k iterations, 8 GPUs x 2 images; Eigen crop, 1e-3..10 m.
_base_ = [
    './_base_/models/depth-fpn_veca-b.py',
    './_base_/datasets/nyu.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/schedules/depth_40k.py',
]
crop_size = (480, 480)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(max_depth=10.0))
