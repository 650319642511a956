# VECA-S UPerNet on ADE20K.
_base_ = ['../veca_upernet_ade20k.py']
model = dict(
    backbone=dict(
        arch='small',
        init_cfg=dict(checkpoint='checkpoints/veca_small.pth')),
    neck=dict(in_channels=384))
