# A tiny VECA Mask2Former (semantic) on the mini ADE20K set that
# tools/dataset_converters/make_mini_ade20k.py generates: the headline recipe
# (simple pyramid, deformable-attention pixel decoder, masked-attention query
# decoder, Hungarian matching, CE + mask + dice losses, AdamW + layer decay,
# nested budgets, IoUMetric) shrunk to 96x96 crops, a 4-layer VECA, 16
# queries and 32-channel heads, so that it trains on a CPU.
#
#   python tools/dataset_converters/make_mini_ade20k.py data/mini_ade20k
#   python tools/train.py configs/mini/mask2former_veca-t_1xb4-200_mini-ade20k-96x96.py
_base_ = [
    '../veca_mask2former_ade20k.py',
    '../_base_/models/mini_mask2former.py',
]

data_root = 'data/mini_ade20k/ADEChallengeData2016'
crop_size = (96, 96)
num_classes = 150  # mmseg's ADE20KDataset labels, which the mini set uses
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
    neck=dict(in_channels=veca_embed_dims, out_channels=_base_.channels),
    decode_head=dict(
        _base_.mini_mask2former_head,
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

optim_wrapper = _base_.mini_mask2former_optim_wrapper
max_iters = 200
param_scheduler = _base_.param_scheduler  # warm-up, then poly 0.9
param_scheduler[0].update(start_factor=1e-2, end=20)
param_scheduler[1].update(begin=20, end=max_iters)
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=25),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1, save_best=None))
randomness = dict(seed=0)
