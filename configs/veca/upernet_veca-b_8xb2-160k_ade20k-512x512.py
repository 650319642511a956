# OpenMMLab name of the headline ADE20K config (VECA-B, all 64 cores at test).
_base_ = ['../veca_upernet_ade20k.py']
