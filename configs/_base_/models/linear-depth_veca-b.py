# Linear depth probe on a frozen VECA-B (DINOv2's "lin. 1" form: last layer
# + CLS, x4 bilinear upsampling, BatchNorm, 1x1 conv to 256 uniform bins,
# linear normalisation) in mmseg's DepthEstimator: depth-fpn_veca-b.py with
# the backbone frozen and the neck and FPN head replaced.
_base_ = './depth-fpn_veca-b.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='VECA',
        arch='base',  # 'small' / 'large' work unchanged (768-wide output)
        patch_size=16,
        out_indices=-1,
        core_budgets=64,
        output_cls_token=True,
        distill_proj=True,
        final_norm=True,
        frozen=True,
        init_cfg=dict(type='Pretrained',
                      checkpoint='checkpoints/veca_base.pth')),
    neck=None,
    decode_head=dict(
        _delete_=True,
        type='LinearDepthProbeHead',
        in_channels=768,
        concat_cls_token=True,
        n_bins=256,
        min_depth=1e-3,
        max_depth=10.0,  # the dataset's range: configs set it
        upsample=4,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        align_corners=False,
        loss_decode=dict(type='MaskedSiLogLoss', min_depth=1e-3)))
