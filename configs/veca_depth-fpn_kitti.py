# VECA-B depth (FPN depth head) on KITTI, Eigen split (652 test images with
# ground truth), 352x704 crops, 40k iterations, 8 GPUs x 2 images;
# Garg crop, 1e-3..80 m.
_base_ = [
    './_base_/models/depth-fpn_veca-b.py',
    './_base_/datasets/kitti.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/schedules/depth_40k.py',
]
crop_size = (352, 704)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(max_depth=80.0))
