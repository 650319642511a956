# A tiny VECA depth model on the mini NYUv2 set that
# tools/dataset_converters/make_mini_nyu.py generates, through the real
# mmseg NYUDataset, depth pipeline, DepthEstimator and VECADepthMetric.
# Runs on 2 CPU cores in seconds.
_base_ = [
    '../_base_/models/depth-fpn_veca-t.py',
    '../_base_/datasets/mini_nyu.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/schedules/mini_depth_20.py',
]
crop_size = (64, 64)
model = dict(data_preprocessor=dict(size=crop_size))
