# Mini ADE20K: the linear probe of
# ../veca_linear_ade20k.py on a tiny frozen VECA (random
# weights unless init_cfg points at a trained one), on the mini set that
# tools/dataset_converters/make_mini_ade20k.py writes, through the real mmseg
# dataset, pipeline, EncoderDecoder and IoUMetric. Seconds on 2 CPU cores.
_base_ = ['../veca_linear_ade20k.py']

data_root = 'data/mini_ade20k/ADEChallengeData2016'
crop_size = (64, 64)
model = dict(
    # test: pad to a multiple of the patch size (8)
    data_preprocessor=dict(size=crop_size, test_cfg=dict(size_divisor=8)),
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=32, num_layers=4, num_heads=2,
                  mlp_ratio=2.0, num_cores=16),
        patch_size=8,
        core_budgets=16,
        init_cfg=None),
    decode_head=dict(in_channels=32,
                     norm_cfg=dict(type='BN', requires_grad=True)),
    test_cfg=dict(_delete_=True, mode='whole'))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(256, 64), ratio_range=(0.75, 1.5),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 64), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=4, num_workers=1, persistent_workers=True,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=1, persistent_workers=True,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=1e-2))
max_iters = 40
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=5,
         end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False,
                    interval=max_iters, max_keep_ckpts=1))
randomness = dict(seed=0)
