# Mini KITTI: the linear depth probe of ../veca_linear_kitti.py on a tiny
# frozen VECA, on the mini set tools/dataset_converters/make_mini_kitti.py
# writes (Eigen-split layout, sparse 1/256 m ground truth), through
# KITTIDepthDataset, mmseg's depth pipeline and DepthEstimator and
# VECADepthMetric (Garg crop). Seconds on 2 CPU cores.
_base_ = ['../veca_linear_kitti.py']

data_root = 'data/mini_kitti/kitti'
crop_size = (32, 96)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=32, num_layers=4, num_heads=2,
                  mlp_ratio=2.0, num_cores=16),
        patch_size=8,
        core_budgets=16,
        init_cfg=None),
    decode_head=dict(in_channels=32, n_bins=64,
                     norm_cfg=dict(type='BN', requires_grad=True)))

meta_keys = ('img_path', 'depth_map_path', 'ori_shape', 'img_shape',
             'pad_shape', 'scale_factor', 'flip', 'flip_direction',
             'category_id', 'depth_rescale_factor', 'focal')
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthAnnotation', depth_rescale_factor=1 / 256),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthAnnotation', depth_rescale_factor=1 / 256),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
train_dataloader = dict(
    batch_size=2, num_workers=1, persistent_workers=True,
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
                    interval=max_iters, max_keep_ckpts=1, save_best=None))
randomness = dict(seed=0)
