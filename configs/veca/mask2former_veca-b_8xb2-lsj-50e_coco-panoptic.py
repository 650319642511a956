# OpenMMLab name of the headline COCO panoptic Mask2Former config (VECA-B,
# all 64 cores at test).
_base_ = ['../veca_mask2former_coco-panoptic.py']
