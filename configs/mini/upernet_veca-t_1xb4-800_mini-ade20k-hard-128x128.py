# The nested-vs-fixed study's task: the same tiny VECA as the demo, on the
# harder mini ADE20K of tools/dataset_converters/make_mini_ade20k_hard.py
# (26 classes, small and thin objects, wavy boundaries, scene-dependent
# classes, ~192 px images: ~576 patch tokens at test time for 32 cores).
# Trains on 128 x 128 crops; tests on whole images (short side 192).
_base_ = ['./upernet_veca-t_1xb4-600_mini-ade20k-96x96.py']

data_root = 'data/mini_ade20k_hard/ADEChallengeData2016'
crop_size = (128, 128)
data_preprocessor = dict(size=crop_size)
model = dict(data_preprocessor=data_preprocessor)

train_pipeline = _base_.train_pipeline
train_pipeline[2].update(scale=(768, 192), ratio_range=(0.75, 1.25))
train_pipeline[3].crop_size = crop_size
test_pipeline = _base_.test_pipeline
test_pipeline[1].scale = (768, 192)
train_dataloader = dict(
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 800
param_scheduler = _base_.param_scheduler
param_scheduler[1].end = max_iters
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
