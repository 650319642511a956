# VECA-B Mask2Former on ADE20K (semantic), 512x512 crops, 160k iterations,
# 8 GPUs x 2 images: mmseg's own Mask2Former recipe (query decoder, deformable
# pixel decoder, losses, schedule) with the ResNet swapped for VECA + the
# simple pyramid neck, layer-wise lr decay and nested core budgets.
_base_ = [
    'mmseg::mask2former/mask2former_r50_8xb2-160k_ade20k-512x512.py',
    './_base_/models/veca_parts.py',
]
# mmseg's Mask2FormerHead is built from mmdet's modules
custom_imports = dict(imports=['veca_mm', 'mmdet.models'],
                      allow_failed_imports=False)

veca_embed_dims = 768
veca_num_layers = 12
model = dict(
    backbone=dict(_base_.veca_b_backbone, _delete_=True),
    # strides 4, 8, 16, 32 from the stride-16 maps, 256 channels: what the
    # pixel decoder of the R50 recipe reads
    neck=dict(_base_.veca_b_neck, in_channels=veca_embed_dims),
    decode_head=dict(in_channels=[256, 256, 256, 256]))

# AdamW with layer-wise lr decay over VECA's layers; the head (queries,
# pixel decoder) gets the full lr. Mask2Former's gradient clipping is kept.
# (The constructor decays every parameter of 2+ dims, the query and level
# embeddings included, as BEiT/ViT-Adapter's layer-decay constructor does.)
optim_wrapper = dict(
    _base_.veca_b_m2f_optim_wrapper, _delete_=True,
    paramwise_cfg=dict(num_layers=veca_num_layers, layer_decay_rate=0.65))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
         end=1500),
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=False, begin=1500,
         end=160000),
]
