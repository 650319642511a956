# The mini KITTI set of tools/dataset_converters/make_mini_kitti.py (Eigen-split
# layout, sparse 1/256 m ground truth) at 32 x 96 crops through
# kitti.py; one worker, as the mini configs run on a CPU.
_base_ = './kitti.py'
data_root = 'data/mini_kitti/kitti'
crop_size = (32, 96)
train_pipeline = _base_.train_pipeline
train_pipeline[4].crop_size = crop_size
train_dataloader = dict(
    num_workers=1, dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(num_workers=1, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
