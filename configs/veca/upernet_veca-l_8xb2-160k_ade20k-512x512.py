# VECA-L UPerNet on ADE20K: 24 layers, pyramid from layers 8, 12, 16, 24.
_base_ = ['../veca_upernet_ade20k.py']
model = dict(
    _base_.veca_l_model,
    backbone=dict(_base_.veca_l_model.backbone,
                  out_indices=(7, 11, 15, 23), drop_path_rate=0.2))
optim_wrapper = _base_.veca_l_optim_wrapper
