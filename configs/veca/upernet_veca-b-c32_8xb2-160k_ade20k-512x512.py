# VECA-B evaluated with 32 cores (same training as the headline config: the
# nested budgets make one model serve every budget).
_base_ = ['../veca_upernet_ade20k.py']
model = dict(backbone=dict(core_budgets=32))
