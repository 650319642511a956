# The mini PASCAL Context set (59 classes) of
# tools/dataset_converters/make_mini_pascal_context.py at 64 x 64 crops
# (images resized into 256 x 64) through mmseg's pascal_context_59 base; one
# worker, as the mini configs run on a CPU.
_base_ = 'mmseg::_base_/datasets/pascal_context_59.py'
data_root = 'data/mini_pascal_context/VOCdevkit/VOC2010'
crop_size = (64, 64)
# mmseg's pipelines (plain copies of the dataloaders' lists) at mini scale
train_pipeline = [dict(t) for t in _base_.train_dataloader.dataset.pipeline]
train_pipeline[2].update(scale=(256, 64), ratio_range=(0.75, 1.5))
train_pipeline[3].update(crop_size=crop_size)
test_pipeline = [dict(t) for t in _base_.val_dataloader.dataset.pipeline]
test_pipeline[1].update(scale=(256, 64))
train_dataloader = dict(
    num_workers=1, dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=1, dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
