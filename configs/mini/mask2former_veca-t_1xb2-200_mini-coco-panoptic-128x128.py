# A tiny VECA Mask2Former (panoptic) on the synthetic mini COCO panoptic set
# that tools/dataset_converters/make_mini_coco_panoptic.py generates (3
# things, 3 stuff classes, COCO's panoptic layout): the headline recipe
# (simple pyramid, deformable-attention pixel decoder, masked-attention query
# decoder, LSJ, AdamW + layer decay, nested budgets, CocoPanopticMetric
# PQ/SQ/RQ + CocoMetric) shrunk to 128x128 images, a 4-layer VECA, 16
# queries and 32-channel heads, so that it trains on a CPU.
#
#   python tools/dataset_converters/make_mini_coco_panoptic.py data/mini_coco_panoptic
#   python tools/train.py configs/mini/mask2former_veca-t_1xb2-200_mini-coco-panoptic-128x128.py
_base_ = [
    '../veca_mask2former_coco-panoptic.py',
    '../_base_/models/mini_mask2former.py',
]

data_root = 'data/mini_coco_panoptic/'
# the generator's categories: things (ids 1-3), then stuff (92, 105, 119)
metainfo = dict(
    classes=('circle', 'square', 'triangle', 'wall', 'floor', 'sky'),
    thing_classes=('circle', 'square', 'triangle'),
    stuff_classes=('wall', 'floor', 'sky'),
    palette=[(220, 60, 50), (50, 170, 70), (60, 90, 220), (200, 190, 165),
             (110, 100, 95), (165, 200, 235)])
num_things_classes = 3
num_stuff_classes = 3
num_classes = num_things_classes + num_stuff_classes
image_size = (128, 128)
veca_embed_dims = 64
veca_num_layers = 4

model = dict(
    data_preprocessor=dict(batch_augments=[
        dict(type='BatchFixedSizePad', size=image_size, img_pad_value=0,
             pad_mask=True, mask_pad_value=0, pad_seg=True,
             seg_pad_value=255)
    ]),
    backbone=dict(
        _base_.veca_t_vitdet_backbone,
        arch=dict(_base_.veca_t_arch, _delete_=True,
                  embed_dims=veca_embed_dims, num_layers=veca_num_layers)),
    neck=dict(in_channels=veca_embed_dims, out_channels=_base_.channels),
    panoptic_head=dict(
        _base_.mini_mask2former_head,
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])),
    panoptic_fusion_head=dict(num_things_classes=num_things_classes,
                              num_stuff_classes=num_stuff_classes),
    train_cfg=dict(num_points=1024),
    test_cfg=dict(max_per_image=_base_.num_queries))

train_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True, backend_args=None),
    dict(type='LoadPanopticAnnotations', with_bbox=True, with_mask=True,
         with_seg=True, backend_args=None),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomResize', scale=image_size, ratio_range=(0.5, 1.5),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=image_size, crop_type='absolute',
         recompute_bbox=True, allow_negative_crop=True),
    dict(type='PackDetInputs')
]
# the headline's test pipeline (plain copies), resized to 128 x 128
test_pipeline = [dict(t) for t in _base_.val_dataloader.dataset.pipeline]
test_pipeline[1].update(scale=image_size)
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 filter_cfg=dict(filter_empty_gt=True, min_size=8),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [
    dict(type='CocoPanopticMetric',
         ann_file=data_root + 'annotations/panoptic_val2017.json',
         seg_prefix=data_root + 'annotations/panoptic_val2017/',
         backend_args=None),
    dict(type='CocoMetric',
         ann_file=data_root + 'annotations/instances_val2017.json',
         metric=['bbox', 'segm'], backend_args=None)
]
test_evaluator = val_evaluator

optim_wrapper = _base_.mini_mask2former_optim_wrapper
max_iters = 200
param_scheduler = dict(_delete_=True, type='MultiStepLR', begin=0,
                       end=max_iters, by_epoch=False,
                       milestones=[int(max_iters * 0.9)], gamma=0.1)
train_cfg = dict(max_iters=max_iters, val_interval=max_iters,
                 dynamic_intervals=None)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=25, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False,
                    interval=max_iters, max_keep_ckpts=1, save_last=True))
log_processor = dict(by_epoch=False)
auto_scale_lr = dict(enable=False, base_batch_size=2)
randomness = dict(seed=0)
