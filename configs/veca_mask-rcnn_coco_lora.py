# VECA-B Mask R-CNN on COCO with LoRA (docs/lora.md): frozen VECA-B, rank-16
# adapters on every block's attention and MLP projections; pyramid neck, RPN
# and RoI heads train. Everything else is the full-fine-tuning config's.
_base_ = ['./veca_mask-rcnn_coco.py']
lora = dict(rank=16, alpha=16, targets=('q', 'k', 'v', 'proj', 'fc1', 'fc2'))
model = dict(backbone=dict(type='VECALoRA', lora=lora))
