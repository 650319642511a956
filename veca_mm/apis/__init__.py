"""User-facing entry points: build a VECA from a checkpoint, check what a
runner is about to load."""
from .checkpoints import check_backbone_fits, check_load_from, init_backbone

__all__ = ['init_backbone', 'check_load_from', 'check_backbone_fits']
