# VECA-B + simple pyramid neck + UPerHead/FCNHead, on top of mmseg's own
# UPerNet-ViT base: only the backbone and neck are swapped.
_base_ = 'mmseg::_base_/models/upernet_vit-b16_ln_mln.py'
custom_imports = dict(imports=['veca_mm'], allow_failed_imports=False)

# SyncBN for multi-GPU runs; mmengine turns it into BN in a single process.
norm_cfg = dict(type='SyncBN', requires_grad=True)
veca_checkpoint = 'checkpoints/veca_base.pth'  # tools/model_converters/veca2mm.py
model = dict(
    # test: pad each image to a multiple of the patch size (as the backbone
    # would) here, where mmseg records the padding and crops it off the
    # prediction before resizing it to the image; a config that changes
    # patch_size changes size_divisor with it (tests/test_configs.py)
    data_preprocessor=dict(test_cfg=dict(size_divisor=16)),
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='VECA',
        arch='base',
        patch_size=16,
        out_indices=(3, 5, 7, 11),
        core_budgets=64,
        # nested fine-tuning, as the released models were pre-trained
        train_core_budgets=dict(
            budgets=(8, 16, 24, 32, 40, 48, 56, 64),
            weights=(1, 1, 2, 2, 3, 3, 4, 4)),
        drop_path_rate=0.1,
        final_norm=True,
        init_cfg=dict(type='Pretrained', checkpoint=veca_checkpoint)),
    neck=dict(
        _delete_=True,
        type='SimplePyramidNeck',
        in_channels=768,
        out_channels=256,
        scale_factors=(4.0, 2.0, 1.0, 0.5),
        norm_cfg=dict(type='LN2d', requires_grad=True)),
    decode_head=dict(
        in_channels=[256, 256, 256, 256],
        channels=512,
        norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=256, in_index=2, norm_cfg=norm_cfg))

