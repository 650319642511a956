# Copyright (c) veca_mm contributors. Apache-2.0.
"""The hooks ``tools/train.py`` adds to any config it trains.

So a stock mmseg/mmdet config with ``type='VECA'`` gets the same guarantees
as ours: crash-safe checkpoints, a stop at the first NaN loss, and resumes
that reproduce an uninterrupted run. Each change is logged; a config that
already names a hook keeps its own settings.
"""
from typing import List

from veca_mm.utils.type_names import type_name

SAFETY_HOOKS = ('FiniteLossHook', 'IterSeedHook')


def add_safety_hooks(cfg) -> List[str]:
    """Edit ``cfg`` in place; return one line per change made."""
    changes = []
    default_hooks = cfg.get('default_hooks', None) or {}
    ckpt = default_hooks.get('checkpoint', None)
    if ckpt is not None and type_name(ckpt) == 'CheckpointHook':
        ckpt['type'] = 'AtomicCheckpointHook'
        changes.append('default_hooks.checkpoint: CheckpointHook -> '
                       'AtomicCheckpointHook (same arguments; writes via a '
                       'temporary file and rename)')
    custom = list(cfg.get('custom_hooks', None) or [])
    present = {type_name(h) for h in custom}
    for name in SAFETY_HOOKS:
        if name not in present:
            custom.append(dict(type=name))
            changes.append(f'custom_hooks: + {name}')
    cfg.custom_hooks = custom
    return changes
