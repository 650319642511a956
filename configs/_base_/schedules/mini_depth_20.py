# mini_seg_600.py with depth_40k.py's flavour: 20 iterations, 5 warm-up at
# 1e-2, poly power 0.9, a log line every 5; one checkpoint at the end (none
# kept as best; depth_40k's rule='less' stays): the mini depth configs.
_base_ = './mini_seg_600.py'
max_iters = 20
param_scheduler = _base_.param_scheduler
param_scheduler[0].update(start_factor=1e-2, end=5)
param_scheduler[1].update(power=0.9, begin=5, end=max_iters)
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=max_iters, save_best=None, rule='less'))
