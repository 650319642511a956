# VECA-B Mask R-CNN evaluated with 32 of the 64 cores in every layer. Training
# is the same nested-budget fine-tuning as the headline, so this only changes
# the test-time budget: one checkpoint serves both configs (the same as
# `tools/test.py ... --core-budgets 32`).
_base_ = ['./mask-rcnn_veca-b_8xb2-lsj-100e_coco.py']
model = dict(backbone=dict(core_budgets=32))
