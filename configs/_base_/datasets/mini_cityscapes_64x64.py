# The mini Cityscapes set of tools/dataset_converters/make_mini_cityscapes.py
# at 64 x 64 crops (frames resized into 128 x 64) through
# mini_cityscapes.py, 4 images a batch.
_base_ = './mini_cityscapes.py'
crop_size = (64, 64)
train_pipeline = _base_.train_pipeline
train_pipeline[2].scale = (128, 64)
train_pipeline[3].crop_size = crop_size
test_pipeline = _base_.test_pipeline
test_pipeline[1].scale = (128, 64)
train_dataloader = dict(batch_size=4, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
