# VECA-L (1024-d, 24 layers, 64 cores) Mask2Former on COCO panoptic.
# ViTDet-L settings: drop path 0.4, layer decay 0.8; activation
# checkpointing to fit 2 images of 1024x1024 per GPU.
_base_ = ['../veca_mask2former_coco-panoptic.py']
model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.4,
        with_cp=True,
        init_cfg=dict(checkpoint='checkpoints/veca_large.pth')),
    neck=dict(in_channels=1024))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=24, layer_decay_rate=0.8))
