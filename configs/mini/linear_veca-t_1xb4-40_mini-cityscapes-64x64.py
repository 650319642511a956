# Mini Cityscapes: the linear probe of
# ../veca_linear_cityscapes.py on a tiny frozen VECA (random
# weights unless init_cfg points at a trained one), on the mini set that
# tools/dataset_converters/make_mini_cityscapes.py writes, through the real mmseg
# dataset, pipeline, EncoderDecoder and IoUMetric. Seconds on 2 CPU cores.
_base_ = [
    '../_base_/models/linear_veca-t.py',
    '../_base_/datasets/mini_cityscapes_64x64.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/schedules/mini_linear-probe_40.py',
]
crop_size = (64, 64)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(num_classes=19))
