# A tiny VECA depth model on the mini KITTI set that
# tools/dataset_converters/make_mini_kitti.py generates (Eigen-split layout,
# sparse 1/256 m ground truth), through KITTIDepthDataset, mmseg's depth
# pipeline and DepthEstimator, and VECADepthMetric (Garg crop, 80 m).
# Runs on 2 CPU cores in seconds.
_base_ = [
    '../_base_/models/depth-fpn_veca-t.py',
    '../_base_/datasets/mini_kitti.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/schedules/mini_depth_20.py',
]
crop_size = (32, 96)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(max_depth=80.0))
