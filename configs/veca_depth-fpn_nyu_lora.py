# VECA-B depth (FPN depth head) on NYUv2 with LoRA (docs/lora.md): frozen
# VECA-B, rank-16 adapters on every block's attention and MLP projections;
# neck and depth head train. Everything else is the full-fine-tuning config's.
_base_ = ['./veca_depth-fpn_nyu.py']
lora = dict(rank=16, alpha=16, targets=('q', 'k', 'v', 'proj', 'fc1', 'fc2'))
model = dict(backbone=dict(type='VECALoRA', lora=lora))
