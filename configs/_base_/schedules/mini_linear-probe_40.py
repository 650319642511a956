# linear-probe_40k.py's optimizer (only the head: layer decay rate 1.0,
# weight decay 1e-4) on mini_seg_600.py's loop, shrunk to 40 iterations at
# lr 1e-2 (5 warm-up at 0.1), a log line every 10, one checkpoint at the
# end, seed 0: the mini linear probes, seconds on a CPU.
_base_ = './mini_seg_600.py'
optim_wrapper = dict(
    optimizer=dict(lr=1e-2, weight_decay=1e-4),
    paramwise_cfg=dict(_delete_=True, layer_decay_rate=1.0))
max_iters = 40
param_scheduler = _base_.param_scheduler
param_scheduler[0].update(start_factor=0.1, end=5)
param_scheduler[1].update(begin=5, end=max_iters)
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(interval=max_iters))
