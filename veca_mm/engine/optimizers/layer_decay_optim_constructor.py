"""Layer-wise learning-rate decay for VECA backbones.

Usage::

    optim_wrapper = dict(
        type='OptimWrapper',
        optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999),
                       weight_decay=0.05),
        constructor='VECALayerDecayOptimizerConstructor',
        paramwise_cfg=dict(layer_decay_rate=0.65, num_layers=12))

Layer ids (``L = num_layers``), for parameters under ``backbone.``:

* ``patch_embed.*``, the core bank (``query_token_chunks.*``,
  ``qcoord_chunks.*``) and ``pos_alpha`` -> 0
* ``blocks.{l}.*`` -> ``l + 1``
* ``pos_linears.{l}.*`` -> ``l + 2`` (it runs right before block ``l + 1``)
* ``final_norm.*`` and the distillation projection ``output_proj.*`` ->
  ``L + 1``

Every parameter outside ``backbone.`` (neck, heads) -> ``L + 1``. The lr of
layer ``i`` is ``lr * layer_decay_rate ** (L + 1 - i)``. 1-D parameters
(norms, biases) and the core tokens / coordinates / ``pos_alpha`` get no
weight decay.
"""
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch.nn as nn
from mmengine.dist import get_dist_info
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS

# Backbone parameters that belong to the input side (layer 0).
_EMBED_PREFIXES = ('patch_embed', 'query_token_chunks', 'qcoord_chunks',
                   'pos_alpha')
# Backbone parameters that never get weight decay (besides all 1-D ones).
_NO_DECAY_PREFIXES = ('query_token_chunks', 'qcoord_chunks', 'pos_alpha')


def get_layer_id_for_veca(name: str, num_layers: int) -> int:
    """Layer id of parameter ``name`` of a model with a VECA ``backbone``.

    Args:
        name (str): full parameter name, e.g. ``backbone.blocks.3.fc1.weight``.
        num_layers (int): number of VECA blocks ``L``.

    Returns:
        int: in ``[0, L + 1]``.
    """
    if not name.startswith('backbone.'):
        return num_layers + 1
    parts = name.split('.')
    head = parts[1]
    if head in _EMBED_PREFIXES:
        return 0
    if head in ('blocks', 'pos_linears') and len(parts) > 2 \
            and parts[2].isdigit():
        idx = int(parts[2])
        limit = num_layers if head == 'blocks' else num_layers - 1
        if idx >= limit:
            raise ValueError(
                f'{name!r} does not fit num_layers={num_layers} (a VECA with '
                f'{num_layers} layers has blocks.0..{num_layers - 1} and '
                f'pos_linears.0..{num_layers - 2}): check '
                'paramwise_cfg.num_layers.')
        return idx + 1 if head == 'blocks' else idx + 2
    if head in ('final_norm', 'output_proj'):  # output side
        return num_layers + 1
    raise ValueError(
        f'VECALayerDecayOptimizerConstructor does not know which layer the '
        f'backbone parameter {name!r} belongs to; expected patch_embed, '
        'query_token_chunks, qcoord_chunks, pos_alpha, pos_linears.<i>, '
        'blocks.<i>, final_norm or output_proj.')


def _no_decay(name: str, param: nn.Parameter) -> bool:
    if param.ndim <= 1:
        return True
    parts = name.split('.')
    return parts[0] == 'backbone' and len(parts) > 1 \
        and parts[1] in _NO_DECAY_PREFIXES


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class VECALayerDecayOptimizerConstructor(DefaultOptimWrapperConstructor):
    """Layer-wise lr decay optimizer constructor for VECA backbones.

    Parameter ``p`` of layer ``i`` (0: the input side, ``L + 1``: the output
    side and every non-backbone parameter, see
    :func:`get_layer_id_for_veca`) gets ``lr * layer_decay_rate ** (L + 1 -
    i)``; 1-D parameters and VECA's query tokens, query coordinates and
    ``pos_alpha`` get no weight decay.

    Args:
        optim_wrapper_cfg (dict): The optimizer wrapper config, as for
            mmengine's ``DefaultOptimWrapperConstructor``; ``optimizer.lr``
            must be set.
        paramwise_cfg (dict, optional): Only two keys:
            ``layer_decay_rate`` (float, required), the lr decay per layer,
            in (0, 1]; and ``num_layers`` (int, optional), the number of
            VECA blocks, defaulting to ``model.backbone.num_layers``.
            Defaults to None (which fails: the rate is required).
    """

    ALLOWED_KEYS = ('layer_decay_rate', 'num_layers')

    def __init__(self,
                 optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None):
        paramwise_cfg = {} if paramwise_cfg is None else dict(paramwise_cfg)
        unknown = sorted(set(paramwise_cfg) - set(self.ALLOWED_KEYS))
        if unknown:
            raise ValueError(
                f'VECALayerDecayOptimizerConstructor: unsupported '
                f'paramwise_cfg keys {unknown}; only {list(self.ALLOWED_KEYS)}'
                ' are supported.')
        if 'layer_decay_rate' not in paramwise_cfg:
            raise ValueError('VECALayerDecayOptimizerConstructor needs '
                             'paramwise_cfg.layer_decay_rate.')
        rate = paramwise_cfg['layer_decay_rate']
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) \
                or not 0 < rate <= 1:
            raise ValueError(
                f'layer_decay_rate must be a number in (0, 1], got {rate!r}')
        num_layers = paramwise_cfg.get('num_layers')
        if num_layers is not None and (isinstance(num_layers, bool)
                                       or not isinstance(num_layers, int)
                                       or num_layers < 1):
            raise ValueError(
                f'num_layers must be a positive int, got {num_layers!r}')
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
        if self.base_lr is None:
            raise ValueError('VECALayerDecayOptimizerConstructor needs '
                             'optimizer.lr to be set.')

    def _num_layers(self, module: nn.Module) -> int:
        num_layers = self.paramwise_cfg.get('num_layers')
        if num_layers is not None:
            return num_layers
        num_layers = getattr(getattr(module, 'backbone', None), 'num_layers',
                             None)
        if num_layers is None:
            raise ValueError(
                'VECALayerDecayOptimizerConstructor: set '
                'paramwise_cfg.num_layers, or give the model a backbone with '
                'a num_layers attribute.')
        return int(num_layers)

    def add_params(self,
                   params: List[dict],
                   module: nn.Module,
                   prefix: str = '',
                   **kwargs) -> None:
        """Append one param group per (layer id, decay / no decay)."""
        num_layers = self._num_layers(module)
        rate = self.paramwise_cfg['layer_decay_rate']
        groups: Dict[Tuple[int, bool], dict] = OrderedDict()
        for name, param in module.named_parameters(prefix=prefix):
            if not param.requires_grad:
                continue
            layer_id = get_layer_id_for_veca(name, num_layers)
            decay = not _no_decay(name, param)
            key = (layer_id, decay)
            if key not in groups:
                scale = rate**(num_layers + 1 - layer_id)
                group = dict(params=[],
                             lr=self.base_lr * scale,
                             lr_scale=scale,
                             group_name=f'layer_{layer_id}_'
                             f'{"decay" if decay else "no_decay"}')
                if not decay:
                    group['weight_decay'] = 0.
                elif self.base_wd is not None:
                    group['weight_decay'] = self.base_wd
                groups[key] = group
            groups[key]['params'].append(param)

        ordered = [
            groups[k] for k in sorted(groups, key=lambda k: (k[0], not k[1]))
        ]
        params.extend(ordered)

        rank, _ = get_dist_info()
        if rank == 0:
            lines = [
                f'{g["group_name"]}: {len(g["params"])} params, '
                f'lr_scale={g["lr_scale"]:.4g}, lr={g["lr"]:.4g}, '
                f'weight_decay={g.get("weight_decay", "default")}'
                for g in ordered
            ]
            print_log(
                f'VECALayerDecayOptimizerConstructor: num_layers={num_layers},'
                f' layer_decay_rate={rate}, {len(ordered)} param groups:\n  ' +
                '\n  '.join(lines),
                logger='current')
