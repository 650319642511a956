# adamw-layer-decay_160k.py shrunk for the mini configs: 600 iterations at lr
# 1e-3 (50 linear warm-up, then poly to 0), layer decay 0.9 over 4 layers, a
# log line every 25 iterations, validation and one checkpoint at the end,
# seed 0. A config that changes max_iters moves the poly's end, train_cfg
# and the checkpoint interval with it (text configs do not re-evaluate a
# base's expressions).
_base_ = './adamw-layer-decay_160k.py'
optim_wrapper = dict(
    optimizer=dict(lr=1e-3, weight_decay=0.01),
    paramwise_cfg=dict(num_layers=4, layer_decay_rate=0.9))
max_iters = 600
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=50),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=50,
         end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=25, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False,
                    interval=max_iters, max_keep_ckpts=1))
randomness = dict(seed=0)
