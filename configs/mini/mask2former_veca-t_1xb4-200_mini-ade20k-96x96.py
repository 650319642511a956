# A tiny VECA Mask2Former (semantic) on the mini ADE20K set that
# tools/dataset_converters/make_mini_ade20k.py generates: the headline recipe
# (simple pyramid, deformable-attention pixel decoder, masked-attention query
# decoder, Hungarian matching, CE + mask + dice losses, AdamW + layer decay,
# nested budgets, IoUMetric) shrunk to 96x96 crops, a 4-layer VECA, 16
# queries and 32-channel heads, so that it trains on a CPU.
#
#   python tools/dataset_converters/make_mini_ade20k.py data/mini_ade20k
#   python tools/train.py configs/mini/mask2former_veca-t_1xb4-200_mini-ade20k-96x96.py
_base_ = ['../veca_mask2former_ade20k.py']

data_root = 'data/mini_ade20k/ADEChallengeData2016'
crop_size = (96, 96)
num_classes = 150  # mmseg's ADE20KDataset labels, which the mini set uses
channels = 32
num_queries = 16
veca_embed_dims = 64
veca_num_layers = 4
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        _base_.veca_t_backbone,
        arch=dict(_base_.veca_t_arch, _delete_=True,
                  embed_dims=veca_embed_dims, num_layers=veca_num_layers),
        out_indices=(0, 1, 2, 3),
        train_core_budgets=dict(budgets=(8, 16), weights=(1, 2))),
    neck=dict(in_channels=veca_embed_dims, out_channels=channels),
    decode_head=dict(
        in_channels=[channels] * 4,
        feat_channels=channels,
        out_channels=channels,
        num_queries=num_queries,
        pixel_decoder=dict(
            norm_cfg=dict(type='GN', num_groups=8),
            encoder=dict(
                num_layers=1,
                layer_cfg=dict(
                    self_attn_cfg=dict(embed_dims=channels, num_heads=4,
                                       num_points=2),
                    ffn_cfg=dict(embed_dims=channels,
                                 feedforward_channels=2 * channels))),
            positional_encoding=dict(num_feats=channels // 2)),
        positional_encoding=dict(num_feats=channels // 2),
        transformer_decoder=dict(
            num_layers=3,
            layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=channels, num_heads=4),
                cross_attn_cfg=dict(embed_dims=channels, num_heads=4),
                ffn_cfg=dict(embed_dims=channels,
                             feedforward_channels=2 * channels))),
        train_cfg=dict(num_points=1024)))

# the pipelines of ../_base_/datasets/mini_ade20k.py: mmseg's (plain
# copies) with images resized into 384 x 96
train_pipeline = [dict(t) for t in _base_.train_dataloader.dataset.pipeline]
train_pipeline[2] = dict(type='RandomResize', scale=(384, 96),
                         ratio_range=(0.75, 1.5), keep_ratio=True)
train_pipeline[3].update(crop_size=crop_size)
test_pipeline = [dict(t) for t in _base_.val_dataloader.dataset.pipeline]
test_pipeline[1].update(scale=(384, 96))
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(lr=1e-3, weight_decay=0.01),
    paramwise_cfg=dict(num_layers=veca_num_layers, layer_decay_rate=0.9),
    clip_grad=dict(max_norm=1.0))
max_iters = 200
param_scheduler = _base_.param_scheduler  # warm-up, then poly 0.9
param_scheduler[0].update(start_factor=1e-2, end=20)
param_scheduler[1].update(begin=20, end=max_iters)
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=25),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1, save_best=None))
randomness = dict(seed=0)
