# LoRA on the tiny VECA of the mini ADE20K main job (docs/lora.md), for the
# tests: the backbone is a trained tiny VECA of this config's arch, frozen;
# rank-8 adapters on every block's q, k, v, proj, fc1 and fc2 and the neck +
# heads train. Give the base with --cfg-options
# model.backbone.init_cfg.checkpoint=PATH (any checkpoint of this arch, e.g.
# the one `make demo` or tools/analysis_tools/lora_comparison.py trains).
_base_ = ['./upernet_veca-t_1xb4-600_mini-ade20k-96x96.py']
model = dict(
    backbone=dict(
        type='VECALoRA',
        lora=dict(rank=8, alpha=8,
                  targets=('q', 'k', 'v', 'proj', 'fc1', 'fc2')),
        init_cfg=dict(_delete_=True, type='Pretrained',
                      checkpoint='checkpoints/veca_tiny_mini-ade20k.pth')))
