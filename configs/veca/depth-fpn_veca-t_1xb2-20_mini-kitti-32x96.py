# A tiny VECA depth model on the mini KITTI set that
# tools/dataset_converters/make_mini_kitti.py generates (Eigen-split layout,
# sparse 1/256 m ground truth), through KITTIDepthDataset, mmseg's depth
# pipeline and DepthEstimator, and VECADepthMetric (Garg crop, 80 m).
# Runs on 2 CPU cores in seconds.
_base_ = ['../veca_depth-fpn_kitti.py']

data_root = 'data/mini_kitti/kitti'
crop_size = (32, 96)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=32, num_layers=4, num_heads=2,
                  mlp_ratio=2.0, num_cores=16),
        patch_size=8,
        out_indices=(0, 1, 2, 3),
        core_budgets=16,
        train_core_budgets=dict(budgets=(8, 16), weights=(1, 1)),
        drop_path_rate=0.0,
        init_cfg=None),
    neck=dict(in_channels=32, out_channels=32),
    decode_head=dict(in_channels=[32, 32, 32, 32], channels=32,
                     norm_cfg=dict(type='BN', requires_grad=True)))

meta_keys = ('img_path', 'depth_map_path', 'ori_shape', 'img_shape',
             'pad_shape', 'scale_factor', 'flip', 'flip_direction',
             'category_id', 'depth_rescale_factor', 'focal')
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthAnnotation', depth_rescale_factor=1 / 256),
    dict(type='RandomRotate', prob=0.5, degree=1.0, seg_pad_val=0),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
train_dataloader = dict(
    batch_size=2, num_workers=1, persistent_workers=True,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=1, persistent_workers=True,
    dataset=dict(data_root=data_root))
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(lr=1e-3, weight_decay=0.01),
    paramwise_cfg=dict(num_layers=4, layer_decay_rate=0.9))
max_iters = 20
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0,
         end=5),
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=False, begin=5,
         end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=5, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False,
                    interval=max_iters, max_keep_ckpts=1, save_best=None))
randomness = dict(seed=0)
