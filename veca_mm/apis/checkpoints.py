# Copyright (c) veca_mm contributors. Apache-2.0.
"""Build the VECA a checkpoint describes; refuse half-loaded backbones.

mmengine loads ``load_from`` and ``Pretrained`` non-strictly and only logs
the keys it could not place (the trap of mmseg #1288 / mmdet #11833: a
backbone silently half-loaded). Here every mismatch is an error.
"""
import os.path as osp
from typing import Optional, Union

import torch
import torch.nn as nn

from veca_mm.models.backbones.released_format import (
    extract_veca_state_dict, infer_arch_from_state_dict,
    state_dict_diff_lines)
from veca_mm.models.backbones.veca import VECA
from veca_mm.utils.safe_load import load_checkpoint_safely

__all__ = ['init_backbone', 'check_load_from', 'check_backbone_fits']


def init_backbone(checkpoint: str, map_location='cpu',
                  device: Union[str, torch.device] = 'cpu',
                  **overrides) -> VECA:
    """The VECA a released or mm checkpoint describes, loaded strictly, in
    eval mode.

    The description (arch with the distillation width, patch size, core
    chunk, patch norm, RoPE and coordinate fields) comes from a released
    ``config`` or from the converter's ``meta``; ``overrides`` are further
    ``VECA`` arguments (``out_indices``, ``core_budgets``,
    ``output_cls_token``, ``distill_proj``, ...). Overriding a described
    field with another value is refused at load time, naming the field.

    ``init_backbone(ckpt, out_indices=-1, output_cls_token=True,
    core_budgets=C, distill_proj=True)(x)[0]`` is ``(map, cls)`` of the
    released ``model(x, active_k=C)``.
    """
    if 'init_cfg' in overrides:
        raise ValueError('init_backbone loads the checkpoint itself: drop '
                         'init_cfg from its arguments.')
    path = str(checkpoint)
    ckpt = load_checkpoint_safely(path, map_location=map_location)
    state, desc = extract_veca_state_dict(ckpt, path)
    if desc is None and 'arch' not in overrides:
        guess = infer_arch_from_state_dict(state)
        raise ValueError(
            f'{path} records no description of its VECA (neither a released '
            '"config" nor the meta written by tools/model_converters/'
            f'veca2mm.py); its weights look like arch={guess} (the head '
            'count is not in the weights): pass arch=dict(...) and the other '
            'VECA arguments it was built with.')
    kwargs = dict(desc or {})
    kwargs.update(overrides)
    model = VECA(**kwargs)
    model.load_veca_state_dict(state, (desc or {}).get('arch'), source=path,
                               description=desc)
    model.is_init = True  # mmengine's public flag: init_weights keeps it
    return model.to(device).eval()


def _unwrap(model: nn.Module) -> nn.Module:
    while hasattr(model, 'module') and isinstance(model.module, nn.Module):
        model = model.module
    return model


def check_load_from(model: nn.Module, checkpoint: Optional[str],
                    map_location='cpu') -> None:
    """Raise if ``checkpoint`` (a ``load_from`` / ``tools/test.py`` file)
    does not fill ``model.backbone`` exactly: missing, unexpected or
    mis-shaped backbone keys are an error, not mmengine's log warning.

    Models without a ``backbone`` attribute and URLs are left to mmengine.
    """
    if not checkpoint:
        return
    backbone = getattr(_unwrap(model), 'backbone', None)
    if isinstance(backbone, nn.Module):
        check_backbone_fits(backbone, checkpoint, map_location)


def check_backbone_fits(backbone: nn.Module, checkpoint: str,
                        map_location='cpu') -> None:
    """The check of :func:`check_load_from` against a backbone alone (one
    built on the meta device will do: only keys and shapes are compared),
    so that tools refuse a checkpoint before building the whole model."""
    path = str(checkpoint)
    if '://' in path:
        return
    if not osp.isfile(path):
        raise FileNotFoundError(f'Checkpoint to load not found: {path!r}')
    # mapped, not read: only keys and shapes are looked at here, and the
    # runner reads the file itself (one read per load)
    ckpt = load_checkpoint_safely(path, map_location=map_location, mmap=True)
    if isinstance(ckpt, dict) and 'student' in ckpt:
        raise ValueError(
            f'{path} is a released VECA checkpoint (backbone weights and '
            'config), not a whole-model checkpoint for load_from: load it '
            "with model.backbone.init_cfg=dict(type='Pretrained', "
            f"checkpoint='{path}') or convert it with tools/model_converters/"
            'veca2mm.py.')
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f'{path} holds no state dict.')
    state = {k[len('module.'):] if k.startswith('module.') else k: v
             for k, v in state.items()}
    file_bb = {k[len('backbone.'):]: v for k, v in state.items()
               if k.startswith('backbone.')}
    diff = state_dict_diff_lines(backbone.state_dict(), file_bb,
                                 'backbone keys')
    if not diff:
        return
    lines = [f'{path} does not fit the model\'s backbone '
             f'({type(backbone).__name__}); loading it would leave the '
             'backbone half-initialised:']
    if not file_bb:
        lines.append('  it has no "backbone." keys at all (is it a '
                     'backbone-only or released file? load those through '
                     'model.backbone.init_cfg Pretrained).')
    lines += diff
    lines.append('Use the checkpoint of this config, or fix the backbone '
                 'settings (arch, patch_norm, ...) to match the file.')
    raise ValueError('\n'.join(lines))
