# Mini KITTI: the linear depth probe of ../veca_linear_kitti.py on a tiny
# frozen VECA, on the mini set tools/dataset_converters/make_mini_kitti.py
# writes (Eigen-split layout, sparse 1/256 m ground truth), through
# KITTIDepthDataset, mmseg's depth pipeline and DepthEstimator and
# VECADepthMetric (Garg crop). Seconds on 2 CPU cores.
_base_ = [
    '../_base_/models/linear-depth_veca-t.py',
    '../_base_/datasets/mini_kitti.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/schedules/mini_linear-probe_40.py',
]
crop_size = (32, 96)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(max_depth=80.0))

# the probe trains without rotation (2) and colour jitter (5)
train_pipeline = [t for i, t in enumerate(_base_.train_pipeline) if i not in (2, 5)]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
