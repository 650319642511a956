# adamw-layer-decay_160k.py over 80k iterations (mmseg's 80k schedule:
# validation and checkpoints every 8k).
_base_ = './adamw-layer-decay_160k.py'
param_scheduler = _base_.param_scheduler  # 1500 warm-up, then poly
param_scheduler[1].end = 80000
train_cfg = dict(max_iters=80000, val_interval=8000)
default_hooks = dict(checkpoint=dict(interval=8000))
