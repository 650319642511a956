# Linear probe on a frozen VECA-B (the paper's protocol): ADE20K, 512 x 512
# crops, 40k iterations, 8 GPUs x 2 images, slide test with 512 windows.
# Other families: --cfg-options model.backbone.arch=small (or large) and
# model.backbone.init_cfg.checkpoint=checkpoints/veca_small.pth.
_base_ = [
    './_base_/models/linear_veca-b.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/schedules/linear-probe_40k.py',
]
crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(num_classes=150))
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
