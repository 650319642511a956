# VECA-B Mask2Former on COCO panoptic (80 things + 53 stuff), 1024x1024
# large-scale jitter, 50 epochs (368,750 iterations), 8 GPUs x 2 images:
# mmdet's own Mask2Former recipe with the ResNet swapped for VECA + the
# simple pyramid neck (ViTDet style: the pyramid is built from the last map),
# layer-wise lr decay and nested core budgets. Evaluates PQ/SQ/RQ
# (CocoPanopticMetric) and instance mAP (CocoMetric), as the base does.
_base_ = 'mmdet::mask2former/mask2former_r50_8xb2-lsj-50e_coco-panoptic.py'
custom_imports = dict(imports=['veca_mm'], allow_failed_imports=False)

veca_checkpoint = 'checkpoints/veca_base.pth'  # tools/model_converters/veca2mm.py
veca_embed_dims = 768
veca_num_layers = 12
model = dict(
    backbone=dict(
        _delete_=True,
        type='VECA',
        arch='base',
        patch_size=16,
        out_indices=-1,  # ViTDet: the pyramid is built from the last map only
        core_budgets=None,  # all 64 cores at test time
        # nested fine-tuning, as the released models were pre-trained
        train_core_budgets=dict(
            budgets=(8, 16, 24, 32, 40, 48, 56, 64),
            weights=(1, 1, 2, 2, 3, 3, 4, 4)),
        drop_path_rate=0.1,
        final_norm=True,
        with_cp=False,
        init_cfg=dict(type='Pretrained', checkpoint=veca_checkpoint)),
    # strides 4, 8, 16, 32 (the pixel decoder's levels; the base pads to 32)
    neck=dict(
        type='SimplePyramidNeck',
        in_channels=veca_embed_dims,
        out_channels=256,
        scale_factors=(4.0, 2.0, 1.0, 0.5),
        norm_cfg=dict(type='LN2d', requires_grad=True)),
    panoptic_head=dict(in_channels=[256, 256, 256, 256]))

# AdamW with layer-wise lr decay over VECA's layers (ViTDet's 0.7 for a B);
# the head gets the full lr. Mask2Former's gradient clipping is kept.
# (The constructor decays every parameter of 2+ dims, the query and level
# embeddings included, as BEiT/ViT-Adapter's layer-decay constructor does.)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), eps=1e-8,
                   weight_decay=0.05),
    constructor='VECALayerDecayOptimizerConstructor',
    paramwise_cfg=dict(num_layers=veca_num_layers, layer_decay_rate=0.7),
    clip_grad=dict(max_norm=0.01, norm_type=2))
