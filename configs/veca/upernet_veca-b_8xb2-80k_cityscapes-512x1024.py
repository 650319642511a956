# OpenMMLab name of the headline Cityscapes config (whole-image 1024x2048 test).
_base_ = ['../veca_upernet_cityscapes.py']
