# VECA-L (1024-d, 24 layers, 64 cores) Mask2Former on COCO panoptic.
# ViTDet-L settings: drop path 0.4, layer decay 0.8; activation
# checkpointing to fit 2 images of 1024x1024 per GPU.
_base_ = ['../veca_mask2former_coco-panoptic.py']
model = _base_.veca_l_vitdet_model
optim_wrapper = _base_.veca_l_optim_wrapper
