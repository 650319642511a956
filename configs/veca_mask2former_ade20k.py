# VECA-B Mask2Former on ADE20K (semantic), 512x512 crops, 160k iterations,
# 8 GPUs x 2 images: mmseg's own Mask2Former recipe (query decoder, deformable
# pixel decoder, losses, schedule) with the ResNet swapped for VECA + the
# simple pyramid neck, layer-wise lr decay and nested core budgets.
_base_ = 'mmseg::mask2former/mask2former_r50_8xb2-160k_ade20k-512x512.py'
# mmseg's Mask2FormerHead is built from mmdet's modules
custom_imports = dict(imports=['veca_mm', 'mmdet.models'],
                      allow_failed_imports=False)

veca_checkpoint = 'checkpoints/veca_base.pth'  # tools/model_converters/veca2mm.py
veca_embed_dims = 768
veca_num_layers = 12
model = dict(
    backbone=dict(
        _delete_=True,
        type='VECA',
        arch='base',
        patch_size=16,
        out_indices=(3, 5, 7, 11),
        core_budgets=64,  # all 64 cores at test time
        # nested fine-tuning, as the released models were pre-trained
        train_core_budgets=dict(
            budgets=(8, 16, 24, 32, 40, 48, 56, 64),
            weights=(1, 1, 2, 2, 3, 3, 4, 4)),
        drop_path_rate=0.1,
        final_norm=True,
        init_cfg=dict(type='Pretrained', checkpoint=veca_checkpoint)),
    # strides 4, 8, 16, 32 from the stride-16 maps, 256 channels: what the
    # pixel decoder of the R50 recipe reads
    neck=dict(
        type='SimplePyramidNeck',
        in_channels=veca_embed_dims,
        out_channels=256,
        scale_factors=(4.0, 2.0, 1.0, 0.5),
        norm_cfg=dict(type='LN2d', requires_grad=True)),
    decode_head=dict(in_channels=[256, 256, 256, 256]))

# AdamW with layer-wise lr decay over VECA's layers; the head (queries,
# pixel decoder) gets the full lr. Mask2Former's gradient clipping is kept.
# (The constructor decays every parameter of 2+ dims, the query and level
# embeddings included, as BEiT/ViT-Adapter's layer-decay constructor does.)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), eps=1e-8,
                   weight_decay=0.05),
    constructor='VECALayerDecayOptimizerConstructor',
    paramwise_cfg=dict(num_layers=veca_num_layers, layer_decay_rate=0.65),
    clip_grad=dict(max_norm=0.01, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
         end=1500),
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=False, begin=1500,
         end=160000),
]
