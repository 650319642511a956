# VECA-L Mask2Former on ADE20K (semantic): 24 layers, pyramid from layers
# 8, 12, 16, 24; layer decay 0.8 over the 24 layers.
_base_ = ['../veca_mask2former_ade20k.py']
model = dict(
    backbone=dict(
        arch='large',
        out_indices=(7, 11, 15, 23),
        drop_path_rate=0.2,
        init_cfg=dict(checkpoint='checkpoints/veca_large.pth')),
    neck=dict(in_channels=1024))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=24, layer_decay_rate=0.8))
