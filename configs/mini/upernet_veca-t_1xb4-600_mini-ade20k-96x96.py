# The README's main job: a tiny VECA fine-tuned from scratch on the mini
# ADE20K set that tools/dataset_converters/make_mini_ade20k.py generates, with
# the real mmseg dataset, pipeline, UPerHead, IoUMetric and checkpointing.
# Runs on 2 CPU cores in minutes.
_base_ = [
    '../_base_/models/upernet_veca-b.py',
    '../_base_/datasets/mini_ade20k.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/schedules/mini_seg_600.py',
]
crop_size = (96, 96)
# test: pad to a multiple of the patch size (8), mmseg crops it back
data_preprocessor = dict(size=crop_size, test_cfg=dict(size_divisor=8))
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        _base_.veca_t_backbone,
        arch=dict(_base_.veca_t_arch, _delete_=True, embed_dims=96,
                  num_heads=3, num_cores=32),
        out_indices=(0, 1, 2, 3),
        core_budgets=32,
        train_core_budgets=dict(
            budgets=(8, 16, 24, 32), weights=(1, 1, 2, 2))),
    neck=dict(in_channels=96, out_channels=64),
    decode_head=dict(in_channels=[64, 64, 64, 64], channels=64,
                     dropout_ratio=0.0, num_classes=150),
    auxiliary_head=dict(in_channels=64, channels=32, dropout_ratio=0.0,
                        num_classes=150))

