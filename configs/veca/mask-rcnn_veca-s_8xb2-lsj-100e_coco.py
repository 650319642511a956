# VECA-S (384-d, 12 layers, 64 cores) Mask R-CNN, LSJ 1024, 100 epochs.
_base_ = ['./mask-rcnn_veca-b_8xb2-lsj-100e_coco.py']
model = _base_.veca_s_model
optim_wrapper = dict(paramwise_cfg=dict(num_layers=12, layer_decay_rate=0.7))
