# The mini PASCAL VOC 2012 + aug set of tools/dataset_converters/make_mini_voc.py
# at 64 x 64 crops (images resized into 256 x 64) through mmseg's
# pascal_voc12_aug base (train = train + aug lists); one worker, as the
# mini configs run on a CPU.
_base_ = 'mmseg::_base_/datasets/pascal_voc12_aug.py'
data_root = 'data/mini_voc/VOCdevkit/VOC2012'
crop_size = (64, 64)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(256, 64), ratio_range=(0.75, 1.5),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 64), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=4, num_workers=1, persistent_workers=True,
    dataset=dict(datasets=[
        dict(type='PascalVOCDataset', data_root=data_root,
             data_prefix=dict(img_path='JPEGImages',
                              seg_map_path='SegmentationClass'),
             ann_file='ImageSets/Segmentation/train.txt',
             pipeline=train_pipeline),
        dict(type='PascalVOCDataset', data_root=data_root,
             data_prefix=dict(img_path='JPEGImages',
                              seg_map_path='SegmentationClassAug'),
             ann_file='ImageSets/Segmentation/aug.txt',
             pipeline=train_pipeline),
    ]))
val_dataloader = dict(
    batch_size=1, num_workers=1, persistent_workers=True,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
