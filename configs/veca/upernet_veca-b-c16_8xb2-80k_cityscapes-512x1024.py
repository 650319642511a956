# VECA-B on Cityscapes evaluated with 16 cores: the cheapest budget of the
# same nested-trained model.
_base_ = ['../veca_upernet_cityscapes.py']
model = dict(backbone=dict(core_budgets=16))
