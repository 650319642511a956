# Mini NYUv2: the linear depth probe of ../veca_linear_nyu.py on a tiny
# frozen VECA, on the mini set tools/dataset_converters/make_mini_nyu.py
# writes, through mmseg's NYUDataset, depth pipeline and DepthEstimator and
# VECADepthMetric. Seconds on 2 CPU cores.
_base_ = [
    '../_base_/models/linear-depth_veca-t.py',
    '../_base_/datasets/mini_nyu.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/schedules/mini_linear-probe_40.py',
]
crop_size = (64, 64)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(max_depth=10.0))

# the probe trains without rotation (2) and colour jitter (5)
train_pipeline = [t for i, t in enumerate(_base_.train_pipeline) if i not in (2, 5)]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
