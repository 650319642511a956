# The mini ADE20K set of tools/dataset_converters/make_mini_ade20k.py at
# 64 x 64 crops (images resized into 256 x 64) through mini_ade20k.py;
# one worker, as the mini configs run on a CPU.
_base_ = './mini_ade20k.py'
crop_size = (64, 64)
train_pipeline = _base_.train_pipeline
train_pipeline[2].scale = (256, 64)
train_pipeline[3].crop_size = crop_size
test_pipeline = _base_.test_pipeline
test_pipeline[1].scale = (256, 64)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
