# Copyright (c) veca_mm contributors. Apache-2.0.
"""Which mmcv compiled ops a config needs, and a warning when they cannot
run on the GPU torch sees.

mmcv builds its ops for CPU only unless its build saw a GPU or
``FORCE_CUDA=1`` (``tools/setup_env.sh`` decides; docs/gpu.md). With such a
build on a CUDA machine, every compiled op fails on CUDA tensors ("... not
implemented on cuda"), hours into a run. ``import veca_mm`` therefore warns
once (``warn_if_cpu_only_ops``), and ``configs_needing_cuda_ops`` names the
configs that would fail.
"""
import os
import os.path as osp
import sys
import warnings
from typing import Dict, Iterable, List, Optional

__all__ = [
    'CONFIG_CUDA_OPS', 'CpuOnlyOpsWarning', 'mmcv_ops_cuda_version',
    'warn_if_cpu_only_ops', 'config_cuda_ops', 'configs_needing_cuda_ops'
]

# The mmcv compiled ops that veca_mm's configs call (the union of
# ``config_cuda_ops`` over configs/; tests/test_setup_env.py checks it).
CONFIG_CUDA_OPS = ('MultiScaleDeformableAttention', 'RoIAlign', 'nms')

_warned = False


class CpuOnlyOpsWarning(UserWarning):
    """mmcv's compiled ops were built without CUDA on a CUDA machine."""


def mmcv_ops_cuda_version() -> Optional[str]:
    """The CUDA version mmcv's ops were compiled with, ``'not available'``
    for a CPU-only build, or None when mmcv has no compiled ops."""
    try:
        from mmcv.ops import get_compiling_cuda_version
        return get_compiling_cuda_version()
    except (ImportError, OSError):
        return None


def warn_if_cpu_only_ops() -> bool:
    """Warn once if torch sees a GPU and mmcv's ops are CPU-only; True if
    it warned (now or before)."""
    global _warned
    if _warned:
        return True
    import torch
    if not torch.cuda.is_available() or \
            mmcv_ops_cuda_version() != 'not available':
        return False
    _warned = True
    warnings.warn(
        'torch sees a CUDA GPU but mmcv\'s compiled ops were built without '
        'CUDA: ' + ', '.join(CONFIG_CUDA_OPS) + ' will fail on the GPU '
        '(`python tools/setup_decide.py --list-configs` names the configs '
        'that call them). Rebuild mmcv with a CUDA toolkit of torch\'s CUDA '
        f'version ({torch.version.cuda}): `make setup` (docs/gpu.md).',
        CpuOnlyOpsWarning, stacklevel=2)
    return True


def _compiled_op_name(obj) -> Optional[str]:
    """``obj``'s name if it is an mmcv op backed by compiled code."""
    mod = sys.modules.get(getattr(obj, '__module__', None) or '')
    if mod is None or not mod.__name__.startswith('mmcv.ops'):
        return None
    return obj.__name__ if getattr(mod, 'ext_module', None) is not None \
        else None


def _nms_ops(node) -> List[str]:
    """The compiled ops named by ``nms=dict(type=...)`` entries (mmdet
    resolves them in ``mmcv.ops`` at test time)."""
    import mmcv.ops
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key.endswith('nms') and isinstance(value, dict) and \
                    isinstance(value.get('type'), str):
                name = _compiled_op_name(getattr(mmcv.ops, value['type'],
                                                 None))
                found += [name] if name else []
            found += _nms_ops(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            found += _nms_ops(value)
    return found


def config_cuda_ops(path: str) -> List[str]:
    """The compiled mmcv ops the model of the config at ``path`` calls: its
    modules from ``mmcv.ops`` (built on the meta device: no memory, no
    weights) and the ops its ``nms`` settings name."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    cfg = Config.fromfile(path)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model_cfg = cfg.model.copy()
    model_cfg.pop('init_cfg', None)
    if model_cfg.get('backbone', {}).get('type') == 'TIMMBackbone':
        model_cfg.backbone.pretrained = False  # no download to list ops
    with torch.device('meta'), warnings.catch_warnings():
        warnings.simplefilter('ignore')  # mmseg's deprecation notes
        model = MODELS.build(model_cfg)
    names = {_compiled_op_name(type(m)) for m in model.modules()}
    names.update(_nms_ops(cfg.model.to_dict()))
    return sorted(n for n in names if n)


def _config_files(paths: Iterable[str]) -> List[str]:
    files = []
    for path in paths:
        if osp.isdir(path):
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d != '_base_')
                files += [osp.join(root, n) for n in sorted(names)
                          if n.endswith('.py')]
        elif osp.isfile(path):
            files.append(path)
        else:
            raise FileNotFoundError(f'no config file or directory {path}')
    return files


def configs_needing_cuda_ops(paths: Iterable[str]) -> Dict[str, List[str]]:
    """``{config: compiled ops}`` for every config (files, or directories
    searched without their ``_base_``) whose model calls any."""
    found = {}
    for path in _config_files(paths):
        ops = config_cuda_ops(path)
        if ops:
            found[path] = ops
    return found
