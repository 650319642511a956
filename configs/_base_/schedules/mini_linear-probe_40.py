# linear-probe_40k.py shrunk to 40 iterations at lr 1e-2 (5 warm-up), one
# checkpoint at the end, seed 0: the mini linear probes, seconds on a CPU.
_base_ = './linear-probe_40k.py'
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
