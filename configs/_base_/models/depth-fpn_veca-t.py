# A tiny VECA (4 layers, 32 wide, 16 cores, patch 8, nested budgets 8/16)
# with depth-fpn_veca-b.py's pyramid neck and FPN depth head at 32
# channels: the mini depth configs, seconds on a CPU.
_base_ = './depth-fpn_veca-b.py'
model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=32, num_layers=4, num_heads=2,
                  mlp_ratio=2.0, num_cores=16),
        patch_size=8,
        out_indices=(0, 1, 2, 3),
        core_budgets=16,
        train_core_budgets=dict(budgets=(8, 16), weights=(1, 1)),
        drop_path_rate=0.0,
        init_cfg=None),
    neck=dict(in_channels=32, out_channels=32),
    decode_head=dict(in_channels=[32, 32, 32, 32], channels=32,
                     norm_cfg=dict(type='BN', requires_grad=True)))
