# VECA-B RetinaNet, simple pyramid at strides 8-128 (P3-P7), LSJ 1024,
# 100 epochs, 8 GPUs x 2 images: the headline config under its OpenMMLab name.
_base_ = ['../veca_retinanet_coco.py']
