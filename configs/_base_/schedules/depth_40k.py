# Depth fine-tuning: mmseg's 40k schedule with AdamW (lr 1e-4, weight decay
# 0.05) and layer-wise lr decay 0.9 over VECA's 12 layers, 1500 linear
# warm-up iterations then poly 0.9; the best checkpoint by RMSE is kept.
_base_ = 'mmseg::_base_/schedules/schedule_40k.py'
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='VECALayerDecayOptimizerConstructor',
    paramwise_cfg=dict(num_layers=12, layer_decay_rate=0.9),
    clip_grad=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
         end=1500),
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=False, begin=1500,
         end=40000),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=40000,
                 val_interval=4000)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=4000,
                    max_keep_ckpts=2, save_best='rmse', rule='less'))
