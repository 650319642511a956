# VECA-B Mask2Former on COCO panoptic (80 things + 53 stuff), 1024x1024
# large-scale jitter, 50 epochs (368,750 iterations), 8 GPUs x 2 images:
# mmdet's own Mask2Former recipe with the ResNet swapped for VECA + the
# simple pyramid neck (ViTDet style: the pyramid is built from the last map),
# layer-wise lr decay and nested core budgets. Evaluates PQ/SQ/RQ
# (CocoPanopticMetric) and instance mAP (CocoMetric), as the base does.
_base_ = [
    'mmdet::mask2former/mask2former_r50_8xb2-lsj-50e_coco-panoptic.py',
    './_base_/models/veca_parts.py',
]
custom_imports = dict(imports=['veca_mm'], allow_failed_imports=False)

veca_embed_dims = 768
veca_num_layers = 12
model = dict(
    # ViTDet: the pyramid is built from the last map only
    backbone=dict(_base_.veca_b_vitdet_backbone, _delete_=True),
    # strides 4, 8, 16, 32 (the pixel decoder's levels; the base pads to 32)
    neck=dict(_base_.veca_b_neck, in_channels=veca_embed_dims),
    panoptic_head=dict(in_channels=[256, 256, 256, 256]))

# AdamW with layer-wise lr decay over VECA's layers (ViTDet's 0.7 for a B);
# the head gets the full lr. Mask2Former's gradient clipping is kept.
# (The constructor decays every parameter of 2+ dims, the query and level
# embeddings included, as BEiT/ViT-Adapter's layer-decay constructor does.)
optim_wrapper = dict(_base_.veca_b_m2f_optim_wrapper, _delete_=True)
