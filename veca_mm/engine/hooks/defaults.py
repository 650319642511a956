# Copyright (c) veca_mm contributors. Apache-2.0.
"""The hooks ``tools/train.py`` adds to any config it trains.

So a stock mmseg/mmdet config with ``type='VECA'`` gets the same guarantees
as ours: crash-safe checkpoints, a stop at the first NaN loss, resumes that
reproduce an uninterrupted run, and a training sample that cannot be loaded
named (or, with the config's ``skip_bad_samples=dict(max=N)``, skipped and
counted) by ``BadSampleGuard``, which logs itself when the runner builds it.
Each change is logged; a config that already names a hook keeps its own
settings.
"""
from typing import List

from veca_mm.datasets.sample_guard import check_skip_bad_samples
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
    guard_train_samples(cfg)
    return changes


def guard_train_samples(cfg) -> None:
    """Wrap ``train_dataloader.dataset`` in ``BadSampleGuard`` (once), with
    the config's top-level ``skip_bad_samples`` (default None: stop)."""
    skip = cfg.get('skip_bad_samples', None)
    check_skip_bad_samples(skip)
    loader = cfg.get('train_dataloader', None)
    dataset = loader.get('dataset', None) if loader else None
    if dataset is None or type_name(dataset) == 'BadSampleGuard':
        return
    loader['dataset'] = dict(type='BadSampleGuard', dataset=dataset,
                             skip_bad_samples=skip,
                             work_dir=cfg.get('work_dir', None))
