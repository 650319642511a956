# VECA-L UPerNet on ADE20K: 24 layers, pyramid from layers 8, 12, 16, 24.
_base_ = ['../veca_upernet_ade20k.py']
model = _base_.veca_l_pyramid_model
optim_wrapper = _base_.veca_l_optim_wrapper
