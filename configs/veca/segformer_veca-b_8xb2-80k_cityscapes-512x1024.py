# VECA-B + pyramid neck + SegFormer's all-MLP head on Cityscapes: 512x1024
# crops, whole-image 1024x2048 inference, the light-head counterpart of
# upernet_veca-b_8xb2-80k_cityscapes-512x1024.py (same backbone, neck,
# schedule). Why this head: every conv in it is 1x1 at 256 channels, so at
# 1024x2048 it costs a few per cent of the backbone, where UPerHead's 3x3
# convs at 512 channels on the stride-4 map are most of the whole model's
# FLOPs (docs/benchmarks.md) and drown VECA's saving. A 256-channel UPerHead
# would still run 3x3 convs at stride 4.
_base_ = ['../veca_upernet_cityscapes.py']
model = dict(
    decode_head=dict(
        _delete_=True,
        type='SegformerHead',
        in_channels=[256, 256, 256, 256],
        in_index=[0, 1, 2, 3],
        channels=256,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))
