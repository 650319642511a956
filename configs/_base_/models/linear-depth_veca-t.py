# A tiny frozen VECA (4 layers, 32 wide, 16 cores, patch 8) under
# linear-depth_veca-b.py's linear depth head (64 bins): the mini linear
# depth probes, seconds on a CPU.
_base_ = './linear-depth_veca-b.py'
model = dict(
    backbone=dict(arch=dict(_base_.veca_t_arch, _delete_=True),
                  patch_size=8, core_budgets=16, init_cfg=None),
    decode_head=dict(in_channels=32, n_bins=64,
                     norm_cfg=dict(type='BN', requires_grad=True)))
