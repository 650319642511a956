# The mini NYUv2 set of tools/dataset_converters/make_mini_nyu.py at
# 64 x 64 crops through nyu.py (mmseg's NYUDataset); one worker, as the
# mini configs run on a CPU.
_base_ = './nyu.py'
data_root = 'data/mini_nyu/nyu'
crop_size = (64, 64)
train_pipeline = _base_.train_pipeline
train_pipeline[4].crop_size = crop_size
train_dataloader = dict(
    num_workers=1, dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(num_workers=1, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
