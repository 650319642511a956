# depth_40k.py shrunk to 20 iterations at lr 1e-3 (5 warm-up), layer decay
# over 4 layers, one checkpoint at the end, seed 0: the mini depth configs.
_base_ = './depth_40k.py'
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
