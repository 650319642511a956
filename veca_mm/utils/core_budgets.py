# Copyright (c) veca_mm contributors. Apache-2.0.
"""Core budgets from the command line, checked the same way in every tool.

``is_veca`` answers "is this backbone a VECA?" for a built module or a
config (``type`` as a bare, scoped or class name). ``apply_core_budgets``
turns ``--core-budgets C [C ...]`` into ``model.backbone.core_budgets``
after the model's own check (``VECA._check_budgets``, on a weightless
meta-device build of the config's backbone), so a bad budget or a non-VECA
backbone is a ``ValueError`` naming the option before anything is loaded.
"""
import argparse
from numbers import Integral
from typing import Optional, Sequence, Tuple, Union

from .cli import config_scope, int_type
from .type_names import registered_class, type_name

__all__ = [
    'add_core_budgets_argument', 'parse_core_budgets', 'is_veca',
    'require_veca', 'meta_backbone', 'check_core_budgets',
    'apply_core_budgets', 'allowed_budgets'
]

Budgets = Union[int, Tuple[int, ...]]


def add_core_budgets_argument(parser: argparse.ArgumentParser,
                              required: bool = False,
                              default_help: str = 'the config\'s') -> None:
    """``--core-budgets C [C ...]``: one budget for every stage, or one per
    stage."""
    parser.add_argument(
        '--core-budgets', type=int_type(lo=1), nargs='+', metavar='C',
        required=required,
        help='VECA core budget(s): one int for every stage, or one int per '
        'stage; sets model.backbone.core_budgets'
        + ('' if required else f' (default: {default_help})'))


def parse_core_budgets(values: Optional[Sequence[int]],
                       option: str = '--core-budgets') -> Optional[Budgets]:
    """``[16]`` -> ``16``; ``[64, 32, 16, 8]`` -> ``(64, 32, 16, 8)``;
    a ValueError / TypeError naming ``option`` for no value, a value that
    is not an int (a bool, ``1.5``) or is not positive."""
    if values is None:
        return None
    if isinstance(values, Integral):
        values = [values]
    values = list(values)
    if not values:
        raise ValueError(f'{option} needs at least one value')
    bad = [v for v in values
           if isinstance(v, bool) or not isinstance(v, Integral)]
    if bad:
        raise TypeError(f'{option} {values}: core budgets must be ints, '
                        f'got {bad[0]!r}')
    values = [int(v) for v in values]
    if any(v <= 0 for v in values):
        raise ValueError(f'{option} {values}: core budgets must be '
                         'positive')
    return values[0] if len(values) == 1 else tuple(values)


def is_veca(backbone, scope: Optional[str] = None) -> bool:
    """Whether ``backbone`` (a built module, a config dict or a ``type``)
    is a VECA or a subclass of it."""
    import torch.nn as nn
    from mmengine.registry import MODELS

    from veca_mm.models.backbones.veca import VECA
    if isinstance(backbone, nn.Module):
        return isinstance(backbone, VECA)
    t = backbone.get('type') if isinstance(backbone, dict) else backbone
    cls = registered_class(MODELS, t, scope)
    return isinstance(cls, type) and issubclass(cls, VECA)


def _backbone_cfg(cfg, option: str):
    model = cfg.get('model', None)
    backbone = model.get('backbone', None) if model is not None else None
    if backbone is None:
        raise ValueError(f'{option}: the config has no model.backbone to '
                         'set core_budgets on')
    return backbone


def require_veca(cfg, option: str = '--core-budgets',
                 fix: str = 'drop the option for this config'):
    """``cfg.model.backbone`` if it is a VECA; else the one error every
    tool gives for a budget option on another backbone."""
    backbone = _backbone_cfg(cfg, option)
    if not is_veca(backbone, config_scope(cfg)):
        raise ValueError(
            f'{option} sets a VECA core budget, but model.backbone is '
            f'{type_name(backbone)!r}, not a VECA backbone: {fix}.')
    return backbone


def meta_backbone(cfg, option: str = '--core-budgets',
                  fix: str = 'drop the option for this config'):
    """The config's VECA backbone built on the meta device (no weights, no
    checkpoint loaded), for its own budget rules and sizes."""
    import torch
    from mmengine.registry import MODELS
    backbone = require_veca(cfg, option, fix)
    cls = registered_class(MODELS, backbone.get('type'), config_scope(cfg))
    kwargs = {k: v for k, v in backbone.items() if k != 'type'}
    kwargs['init_cfg'] = None
    with torch.device('meta'):
        return cls(**kwargs)


def allowed_budgets(backbone) -> list:
    """Every uniform budget a built VECA accepts: the chunk multiples."""
    return list(range(backbone.core_chunk, backbone.num_cores + 1,
                      backbone.core_chunk))


def check_core_budgets(cfg, schedules: Sequence,
                       option: str = '--core-budgets') -> list:
    """Each schedule (an int or one int per stage) checked by the model's
    own rules; returns them normalised (``parse_core_budgets``)."""
    model = meta_backbone(cfg, option)
    out = []
    for s in schedules:
        budgets = parse_core_budgets(s, option)
        try:
            model.set_core_budgets(budgets)
        except ValueError as e:
            raise ValueError(f'{option} {budgets}: {e}') from None
        out.append(budgets)
    return out


def apply_core_budgets(cfg, values, option: str = '--core-budgets'):
    """Set ``cfg.model.backbone.core_budgets`` from ``--core-budgets``
    (``None``: leave the config's), after the checks above."""
    budgets = parse_core_budgets(values, option)
    if budgets is None:
        return cfg
    check_core_budgets(cfg, [budgets], option)
    cfg.model.backbone['core_budgets'] = budgets
    return cfg
