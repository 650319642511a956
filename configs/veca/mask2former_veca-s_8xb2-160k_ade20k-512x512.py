# VECA-S Mask2Former on ADE20K (semantic).
_base_ = ['../veca_mask2former_ade20k.py']
model = dict(
    backbone=dict(
        arch='small',
        init_cfg=dict(checkpoint='checkpoints/veca_small.pth')),
    neck=dict(in_channels=384))
