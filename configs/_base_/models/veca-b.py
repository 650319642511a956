# VECA-B in an mmseg model with mmseg's image normalisation and no head: what
# the depth and linear-probe model bases share. Each sets the model type,
# the backbone's outputs and its head; labels pad with 255 unless a base
# changes seg_pad_val.
_base_ = './veca_parts.py'
custom_imports = dict(imports=['veca_mm'], allow_failed_imports=False)

# SyncBN for multi-GPU runs; the tools turn it into BN in a single process.
norm_cfg = dict(type='SyncBN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(
        type='VECA',
        arch='base',
        patch_size=16,
        final_norm=True,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.veca_checkpoint)),
    train_cfg=dict())
