# A tiny VECA Mask R-CNN on the synthetic mini COCO set that
# tools/dataset_converters/make_mini_coco.py generates: the headline recipe
# (simple pyramid with strides 4..64, RPN, Shared4Conv1FC + FCN mask heads,
# LSJ, AdamW + layer decay, CocoMetric bbox/segm) shrunk to 128x128 images, a
# 4-layer VECA and small heads, for 20 iterations on a CPU.
#
#   python tools/dataset_converters/make_mini_coco.py data/mini_coco
#   python tools/train.py \
#       configs/mini/mask-rcnn_veca-t_1xb2-20_mini-coco-128x128.py
_base_ = ['../veca_mask-rcnn_coco.py']

data_root = 'data/mini_coco/'
# the generator's categories (ids 1, 2, 3)
metainfo = dict(classes=('circle', 'square', 'triangle'),
                palette=[(220, 60, 50), (50, 170, 70), (60, 90, 220)])
num_classes = 3
image_size = (128, 128)
channels = 32
veca_embed_dims = 64
veca_num_layers = 4

model = dict(
    data_preprocessor=dict(batch_augments=[
        dict(type='BatchFixedSizePad', size=image_size, pad_mask=True)
    ]),
    backbone=dict(
        _base_.veca_t_vitdet_backbone,
        arch=dict(_base_.veca_t_arch, _delete_=True,
                  embed_dims=veca_embed_dims, num_layers=veca_num_layers)),
    neck=dict(in_channels=veca_embed_dims, out_channels=channels),
    rpn_head=dict(in_channels=channels, feat_channels=channels),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=channels),
        bbox_head=dict(in_channels=channels, conv_out_channels=channels,
                       fc_out_channels=64, num_classes=num_classes),
        mask_roi_extractor=dict(out_channels=channels),
        mask_head=dict(in_channels=channels, conv_out_channels=channels,
                       num_classes=num_classes)),
    train_cfg=dict(
        rpn=dict(sampler=dict(num=64)),
        rpn_proposal=dict(nms_pre=200, max_per_img=50),
        rcnn=dict(sampler=dict(num=32))),
    test_cfg=dict(
        rpn=dict(nms_pre=200, max_per_img=50),
        rcnn=dict(max_per_img=20)))

# the headline's LSJ pipelines at 128 x 128, jittered 0.5-1.5x
train_pipeline = _base_.train_pipeline
train_pipeline[2].update(scale=image_size, ratio_range=(0.5, 1.5))
train_pipeline[3].crop_size = image_size
test_pipeline = _base_.test_pipeline
test_pipeline[1].scale = image_size
# a plain CocoDataset (no RepeatDataset): `train_dataloader.dataset.data_root`
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='CocoDataset',
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img='train2017/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=8),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val2017.json',
        data_prefix=dict(img='val2017/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(lr=2e-4, weight_decay=0.05),
    paramwise_cfg=dict(num_layers=veca_num_layers, layer_decay_rate=0.9))
max_iters = 20
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop',
                 max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[15], gamma=0.1)
]
log_processor = dict(by_epoch=False)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=5, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False,
                    interval=max_iters, max_keep_ckpts=1))
auto_scale_lr = dict(enable=False, base_batch_size=2)
randomness = dict(seed=0)
