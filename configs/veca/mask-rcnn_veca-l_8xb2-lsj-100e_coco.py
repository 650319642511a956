# VECA-L (1024-d, 24 layers, 64 cores) Mask R-CNN, LSJ 1024, 100 epochs.
# ViTDet-L settings: drop path 0.4, layer decay 0.8; activation checkpointing
# to fit 2 images of 1024x1024 per GPU.
_base_ = ['./mask-rcnn_veca-b_8xb2-lsj-100e_coco.py']
model = _base_.veca_l_vitdet_model
optim_wrapper = _base_.veca_l_optim_wrapper
