# adamw-layer-decay_160k.py over 80k iterations (mmseg's 80k schedule:
# validation and checkpoints every 8k).
_base_ = './adamw-layer-decay_160k.py'
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
         end=1500),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=1500,
         end=80000),
]
train_cfg = dict(max_iters=80000, val_interval=8000)
default_hooks = dict(checkpoint=dict(interval=8000))
