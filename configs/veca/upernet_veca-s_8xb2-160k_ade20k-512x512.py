# VECA-S UPerNet on ADE20K.
_base_ = ['../veca_upernet_ade20k.py']
model = _base_.veca_s_model
