# A tiny frozen VECA (4 layers, 32 wide, 16 cores, patch 8; random weights
# unless init_cfg points at a trained one) under linear_veca-b.py's linear
# head, whole-image test padded to the patch multiple: the mini linear probes.
_base_ = './linear_veca-b.py'
model = dict(
    data_preprocessor=dict(test_cfg=dict(size_divisor=8)),
    backbone=dict(arch=dict(_base_.veca_t_arch, _delete_=True),
                  patch_size=8, core_budgets=16, init_cfg=None),
    decode_head=dict(in_channels=32,
                     norm_cfg=dict(type='BN', requires_grad=True)),
    test_cfg=dict(_delete_=True, mode='whole'))
