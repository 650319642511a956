# VECA-B + simple pyramid neck + UPerHead/FCNHead, on top of mmseg's own
# UPerNet-ViT base: only the backbone and neck are swapped.
_base_ = ['mmseg::_base_/models/upernet_vit-b16_ln_mln.py', './veca_parts.py']
custom_imports = dict(imports=['veca_mm'], allow_failed_imports=False)

# SyncBN for multi-GPU runs; mmengine turns it into BN in a single process.
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    # test: pad each image to a multiple of the patch size (as the backbone
    # would) here, where mmseg records the padding and crops it off the
    # prediction before resizing it to the image; a config that changes
    # patch_size changes size_divisor with it (tests/test_configs.py)
    data_preprocessor=dict(test_cfg=dict(size_divisor=16)),
    pretrained=None,
    backbone=dict(_base_.veca_b_backbone, _delete_=True),
    neck=dict(_base_.veca_b_neck, _delete_=True),
    decode_head=dict(
        in_channels=[256, 256, 256, 256],
        channels=512,
        norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=256, in_index=2, norm_cfg=norm_cfg))
# tiled-head whole inference (docs/high_resolution.md), merged into `model`
# by the configs with large test images: dict(_base_.tiled_whole_model, ...)
tiled_whole_model = dict(
    type='TiledHeadEncoderDecoder',
    test_cfg=dict(mode='whole', head_tile=1024))
