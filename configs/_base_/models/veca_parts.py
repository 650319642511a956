# Named VECA building blocks (no `model`): the model bases and the headline
# configs list this file among their bases and write e.g.
# `backbone=dict(_base_.veca_b_backbone, _delete_=True)`; configs that derive
# from them reach the same names through their own `_base_`. Only model
# bases and headline configs may list it (sibling bases cannot share keys).
veca_checkpoint = 'checkpoints/veca_base.pth'  # tools/model_converters/veca2mm.py

# VECA-B at 64 cores, four stride-16 maps for a simple pyramid neck, nested
# fine-tuning over core budgets, as the released models were pre-trained
veca_b_backbone = dict(
    type='VECA',
    arch='base',
    patch_size=16,
    out_indices=(3, 5, 7, 11),
    core_budgets=64,
    train_core_budgets=dict(
        budgets=(8, 16, 24, 32, 40, 48, 56, 64),
        weights=(1, 1, 2, 2, 3, 3, 4, 4)),
    drop_path_rate=0.1,
    final_norm=True,
    init_cfg=dict(type='Pretrained', checkpoint=veca_checkpoint))
# ViTDet style: the pyramid is built from the last map only; all 64 cores at
# test time (core_budgets=None)
veca_b_vitdet_backbone = dict(
    veca_b_backbone, out_indices=-1, core_budgets=None, with_cp=False)
# strides 4, 8, 16, 32 from VECA-B's stride-16 maps, 256 channels
veca_b_neck = dict(
    type='SimplePyramidNeck',
    in_channels=768,
    out_channels=256,
    scale_factors=(4.0, 2.0, 1.0, 0.5),
    norm_cfg=dict(type='LN2d', requires_grad=True))
# AdamW + layer-wise lr decay over VECA-B's 12 layers (ViTDet: 1e-4, 0.1, 0.7)
veca_b_optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999),
                   weight_decay=0.1),
    constructor='VECALayerDecayOptimizerConstructor',
    paramwise_cfg=dict(num_layers=12, layer_decay_rate=0.7),
    clip_grad=None)
# Mask2Former's: eps 1e-8, weight decay 0.05 and its gradient clipping
veca_b_m2f_optim_wrapper = dict(
    veca_b_optim_wrapper,
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), eps=1e-8,
                   weight_decay=0.05),
    clip_grad=dict(max_norm=0.01, norm_type=2))

# the S / L size variants of configs/veca/*: merged into a VECA-B model
veca_s_model = dict(
    backbone=dict(arch='small',
                  init_cfg=dict(checkpoint='checkpoints/veca_small.pth')),
    neck=dict(in_channels=384))
veca_l_model = dict(
    backbone=dict(arch='large',
                  init_cfg=dict(checkpoint='checkpoints/veca_large.pth')),
    neck=dict(in_channels=1024))
# ViTDet-L (drop path 0.4, activation checkpointing) for the 1024x1024
# detection / panoptic configs; 0.2 and a four-map pyramid for ADE20K
veca_l_vitdet_model = dict(
    veca_l_model,
    backbone=dict(veca_l_model['backbone'], drop_path_rate=0.4,
                  with_cp=True))
veca_l_pyramid_model = dict(
    veca_l_model,
    backbone=dict(veca_l_model['backbone'], out_indices=(7, 11, 15, 23),
                  drop_path_rate=0.2))
veca_l_optim_wrapper = dict(
    paramwise_cfg=dict(num_layers=24, layer_decay_rate=0.8))

# The tiny VECAs of the mini configs: 4 layers, 32 wide, 16 cores (a config
# widens it with e.g. dict(_base_.veca_t_arch, _delete_=True,
# embed_dims=64)), from scratch, nested budgets 8/16
veca_t_arch = dict(embed_dims=32, num_layers=4, num_heads=2, mlp_ratio=2.0,
                   num_cores=16)
veca_t_backbone = dict(
    patch_size=8,
    core_budgets=16,
    train_core_budgets=dict(budgets=(8, 16), weights=(1, 1)),
    drop_path_rate=0.0,
    init_cfg=None)
# the mini COCO configs': stride 16 (ViTDet), budget 16 weighted twice
veca_t_vitdet_backbone = dict(
    veca_t_backbone,
    patch_size=16,
    train_core_budgets=dict(budgets=(8, 16), weights=(1, 2)))
