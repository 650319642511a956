# VECA-B UPerNet on ADE20K with LoRA (docs/lora.md): the converted VECA-B
# stays frozen, rank-16 adapters on q, k, v, proj, fc1 and fc2 of every block
# and the neck + heads train. Checkpoints hold adapters, neck and heads only
# (+ the base's digest); tools/model_converters/merge_lora.py folds the
# adapters into plain VECA weights for deployment. Everything else (data,
# schedule, AdamW with layer-wise lr decay, nested budgets) is the
# full-fine-tuning config's.
_base_ = ['./veca_upernet_ade20k.py']
lora = dict(rank=16, alpha=16, targets=('q', 'k', 'v', 'proj', 'fc1', 'fc2'))
model = dict(backbone=dict(type='VECALoRA', lora=lora))
