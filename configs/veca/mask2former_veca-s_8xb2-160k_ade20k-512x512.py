# VECA-S Mask2Former on ADE20K (semantic).
_base_ = ['../veca_mask2former_ade20k.py']
model = _base_.veca_s_model
