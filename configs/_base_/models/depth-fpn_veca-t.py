# A tiny VECA (4 layers, 32 wide, 16 cores, patch 8, nested budgets 8/16)
# with depth-fpn_veca-b.py's pyramid neck and FPN depth head at 32
# channels: the mini depth configs, seconds on a CPU.
_base_ = './depth-fpn_veca-b.py'
model = dict(
    backbone=dict(
        _base_.veca_t_backbone,
        arch=dict(_base_.veca_t_arch, _delete_=True),
        out_indices=(0, 1, 2, 3)),
    neck=dict(in_channels=32, out_channels=32),
    decode_head=dict(in_channels=[32, 32, 32, 32], channels=32,
                     norm_cfg=dict(type='BN', requires_grad=True)))
