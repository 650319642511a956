# Frozen VECA-B + a linear head (BatchNorm + 1x1 conv over the last layer's
# patch features, the CLS token concatenated), as DINOv2's linear
# segmentation probe, in mmseg's EncoderDecoder. Only the head trains.
_base_ = './veca-b.py'
data_preprocessor = dict(
    # test: pad each image to a multiple of the patch size (as the backbone
    # would) here, where mmseg records the padding and crops it off the
    # prediction before resizing it to the image (slide windows then stay
    # multiples too); a config that changes patch_size changes it with it
    test_cfg=dict(size_divisor=16))
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        arch='base',  # 'small' / 'large' work unchanged (768-wide output)
        out_indices=-1,
        core_budgets=64,
        output_cls_token=True,
        # the features the released model returns: the distillation
        # projection (768 wide for S/B/L; identity for B)
        distill_proj=True,
        # every parameter frozen, eval mode, no autograd
        frozen=True),
    decode_head=dict(
        type='LinearProbeHead',
        in_channels=768,
        concat_cls_token=True,
        num_classes=150,
        norm_cfg=_base_.norm_cfg,
        dropout_ratio=0.0,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    # 512 x 512 windows: the probe sees features at 512 px, as trained
    test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(341, 341)))
