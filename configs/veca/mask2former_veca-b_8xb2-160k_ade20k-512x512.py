# OpenMMLab name of the headline ADE20K Mask2Former config (VECA-B, all 64
# cores at test).
_base_ = ['../veca_mask2former_ade20k.py']
