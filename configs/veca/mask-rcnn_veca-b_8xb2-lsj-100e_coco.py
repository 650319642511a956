# VECA-B Mask R-CNN, simple pyramid (strides 4-64), LSJ 1024, 100 epochs,
# 8 GPUs x 2 images: the headline config under its OpenMMLab name.
_base_ = ['../veca_mask-rcnn_coco.py']
