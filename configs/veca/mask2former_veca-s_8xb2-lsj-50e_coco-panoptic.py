# VECA-S (384-d, 12 layers, 64 cores) Mask2Former on COCO panoptic.
_base_ = ['../veca_mask2former_coco-panoptic.py']
model = dict(
    backbone=dict(
        arch='small',
        init_cfg=dict(checkpoint='checkpoints/veca_small.pth')),
    neck=dict(in_channels=384))
