# VECA-S (384-d, 12 layers, 64 cores) Mask2Former on COCO panoptic.
_base_ = ['../veca_mask2former_coco-panoptic.py']
model = _base_.veca_s_model
