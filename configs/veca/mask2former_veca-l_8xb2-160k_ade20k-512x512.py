# VECA-L Mask2Former on ADE20K (semantic): 24 layers, pyramid from layers
# 8, 12, 16, 24; layer decay 0.8 over the 24 layers.
_base_ = ['../veca_mask2former_ade20k.py']
model = _base_.veca_l_pyramid_model
optim_wrapper = _base_.veca_l_optim_wrapper
