"""Multi-process training without a GPU (gloo), which mmengine 0.10.7 lacks.

mmengine's ``init_dist('pytorch')`` always calls ``torch.cuda.set_device``,
wraps models with ``device_ids=[LOCAL_RANK]`` (CPU modules need ``None``) and
keeps SyncBN, which needs CUDA. ``prepare_cpu_distributed`` fixes the three
in the config and the process group before the runner is built; on a machine
with CUDA it does nothing.
"""
import logging
import os

import torch
import torch.distributed as torch_dist
from mmengine.logging import print_log


def _sync_bn_to_bn(node, path='') -> list:
    """Replace every ``type='SyncBN'`` in a config tree; returns the paths."""
    changed = []
    if isinstance(node, dict):
        if node.get('type') == 'SyncBN':
            node['type'] = 'BN'
            changed.append(path or '<root>')
        for k, v in node.items():
            changed += _sync_bn_to_bn(v, f'{path}.{k}' if path else str(k))
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            changed += _sync_bn_to_bn(v, f'{path}[{i}]')
    return changed


def prepare_cpu_distributed(cfg, launcher: str) -> bool:
    """Set up gloo multi-process training on CPU; True if it did."""
    if launcher == 'none' or torch.cuda.is_available():
        return False
    if launcher != 'pytorch':
        raise RuntimeError(f'--launcher {launcher} without CUDA is not '
                           'supported; use --launcher pytorch (torchrun / '
                           'tools/dist_train.sh) for CPU training.')
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend='gloo')
    changed = _sync_bn_to_bn(cfg['model'])
    if changed:
        print_log('SyncBN needs CUDA: using BN instead on CPU for '
                  + ', '.join(changed), logger='current',
                  level=logging.WARNING)
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None  # CPU modules: DDP wants no device ids
    cfg['model_wrapper_cfg'] = wrapper
    env = cfg.get('env_cfg') or {}
    env.setdefault('dist_cfg', {})['backend'] = 'gloo'
    cfg['env_cfg'] = env
    print_log(f'CPU distributed training: gloo, rank {torch_dist.get_rank()}'
              f' of {torch_dist.get_world_size()} (LOCAL_RANK '
              f'{os.environ.get("LOCAL_RANK")})', logger='current')
    return True
