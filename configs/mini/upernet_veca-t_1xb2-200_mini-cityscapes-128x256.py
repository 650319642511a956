# A tiny VECA UPerNet on the generated mini Cityscapes set
# (tools/dataset_converters/make_mini_cityscapes.py): the Cityscapes
# headline config at toy scale, whole-image inference included.
_base_ = ['../veca_upernet_cityscapes.py']

data_root = 'data/mini_cityscapes/cityscapes'
crop_size = (128, 256)
# test: pad to a multiple of the patch size (8), mmseg crops it back
data_preprocessor = dict(size=crop_size, test_cfg=dict(size_divisor=8))
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=64, num_layers=4, num_heads=2, mlp_ratio=2.0,
                  num_cores=16),
        patch_size=8,
        out_indices=(0, 1, 2, 3),
        core_budgets=16,
        train_core_budgets=dict(budgets=(8, 16), weights=(1, 1)),
        drop_path_rate=0.0,
        init_cfg=None),
    neck=dict(in_channels=64, out_channels=32),
    decode_head=dict(in_channels=[32, 32, 32, 32], channels=32),
    auxiliary_head=dict(in_channels=32, channels=16))

# mmseg's Cityscapes pipelines (plain copies) at toy scale
train_pipeline = [dict(t) for t in _base_.train_dataloader.dataset.pipeline]
train_pipeline[2].update(scale=(256, 128), ratio_range=(0.75, 1.5))
train_pipeline[3].update(crop_size=crop_size)
test_pipeline = [dict(t) for t in _base_.val_dataloader.dataset.pipeline]
test_pipeline[1].update(scale=(256, 128))
train_dataloader = dict(
    batch_size=2, num_workers=1,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=1,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(lr=1e-3, weight_decay=0.01),
    paramwise_cfg=dict(num_layers=4, layer_decay_rate=0.9))
max_iters = 200
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=20),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=20,
         end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False,
                    interval=max_iters, max_keep_ckpts=1))
randomness = dict(seed=0)
