# Depth fine-tuning: adamw-layer-decay_160k.py (AdamW, lr 1e-4, weight decay
# 0.05, layer-wise lr decay over VECA's 12 layers, 1500 warm-up iterations)
# with decay 0.9 and poly 0.9 over 40k iterations; the best checkpoint by
# RMSE is kept.
_base_ = './adamw-layer-decay_160k.py'
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.9))
param_scheduler = _base_.param_scheduler  # 1500 warm-up, then poly
param_scheduler[1].update(power=0.9, end=40000)
train_cfg = dict(max_iters=40000, val_interval=4000)
default_hooks = dict(
    checkpoint=dict(interval=4000, max_keep_ckpts=2, save_best='rmse',
                    rule='less'))
