# The DINOv2 linear-probe schedule: 40k iterations, 16 images per step
# (8 GPUs x 2), AdamW lr 1e-3, weight decay 1e-4, 1500 linear warm-up
# iterations, then poly (power 1) to 0. Only the head is optimised:
# VECALayerDecayOptimizerConstructor (rate 1.0: no decay across layers)
# leaves every parameter with requires_grad=False out of the optimizer
# (mmengine 0.10.7's default constructor, without a paramwise_cfg, hands it
# all of model.parameters(), frozen ones included); 1-D parameters (BN,
# biases) get no weight decay.
_base_ = './adamw-layer-decay_160k.py'
optim_wrapper = dict(
    optimizer=dict(lr=1e-3, weight_decay=1e-4),
    paramwise_cfg=dict(_delete_=True, layer_decay_rate=1.0))
param_scheduler = _base_.param_scheduler  # 1500 warm-up, then poly
param_scheduler[1].end = 40000
train_cfg = dict(max_iters=40000, val_interval=4000)
default_hooks = dict(checkpoint=dict(interval=4000, max_keep_ckpts=2))
