# The mini Cityscapes set of tools/dataset_converters/make_mini_cityscapes.py
# at 128 x 256 crops (frames resized into 256 x 128) through mmseg's
# Cityscapes base; 2 images a batch, one worker, as the mini configs run on a
# CPU.
_base_ = 'mmseg::_base_/datasets/cityscapes.py'
data_root = 'data/mini_cityscapes/cityscapes'
crop_size = (128, 256)
train_pipeline = [dict(t) for t in _base_.train_dataloader.dataset.pipeline]
train_pipeline[2].update(scale=(256, 128), ratio_range=(0.75, 1.5))
train_pipeline[3].update(crop_size=crop_size)
test_pipeline = [dict(t) for t in _base_.val_dataloader.dataset.pipeline]
test_pipeline[1].update(scale=(256, 128))
train_dataloader = dict(
    batch_size=2, num_workers=1,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=1,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
