# Copyright (c) veca_mm contributors. Apache-2.0.
"""The released VECA checkpoint format, and the strict loader's diagnostics.

The one place that knows the released layout: a released file is
``{'student': state dict, 'config': dict}`` (keys under ``module.`` /
``student.``); an mm checkpoint written by
``tools/model_converters/veca2mm.py`` is ``{'state_dict': ...,
'meta': {'veca_args': ...}}``. Here: the released ``config`` fields and their
mapping to ``VECA`` arguments, reading the *description* (the arguments that
fix the forward) from either form, extracting the backbone's state dict,
guessing an arch from the weights, and the error messages of a strict load
(``VECA.load_veca_state_dict``, ``veca_mm.apis.check_load_from``).
"""
import math
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log

from veca_mm.utils.safe_load import load_checkpoint_safely
from .arch import ARCH_KEYS, ARCH_SETTINGS, OPTIONAL_ARCH_KEYS, arch_name, \
    resolve_arch
from .arch import SCALAR_CHECKS, check_veca_args

# Released config field -> VECA argument, for the fields that change what a
# loaded model computes (``arch`` fields are handled by
# ``arch_from_released_config``). Values: (argument, released default).
RELEASED_FIELDS = {
    'patch_size': ('patch_size', 16),
    'in_channels': ('in_channels', 3),
    'nested_chunk_size': ('core_chunk', 8),
    'patch_embed_use_ln': ('patch_norm', False),
    'rope_p_zero_freqs': ('rope_zero_fraction', 0.125),
    'rope_zero_freqs_from': ('rope_zero_from', 'low'),
    'rope_shift_coords': ('coord_shift', 0.08),
    'rope_jitter_coords': ('coord_jitter', None),
    'rope_rescale_coords': ('coord_rescale', 2.0),
}
_RELEASED_ARCH_FIELDS = {
    'hidden_dim': 'embed_dims', 'num_layers': 'num_layers',
    'num_heads': 'num_heads', 'mlp_ratio': 'mlp_ratio',
    'num_query_tokens': 'num_cores'}
# Released family presets (the released loader applies them over the config).
_RELEASED_PRESETS = {k: {f: v[a] for f, a in _RELEASED_ARCH_FIELDS.items()}
                     for k, v in ARCH_SETTINGS.items()}


class ReleasedConfigError(ValueError):
    """A released checkpoint's ``config`` is malformed or asks for a forward
    this VECA cannot reproduce."""


def _config_number(config: dict, field: str, kind, source: str,
                   allow_none: bool = False):
    value = config[field]
    if value is None and allow_none:
        return None
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = number and math.isfinite(value) and (
        kind is float or float(value).is_integer())
    if not ok:
        odd = number and not math.isfinite(value)
        raise ReleasedConfigError(
            f'{source}: malformed released config: {field}={value!r} is not '
            f'{"an int" if kind is int else "a number"}'
            f'{" or None" if allow_none else ""}'
            f'{" (NaN and inf are not)" if odd else ""}.')
    return kind(value)


def arch_from_released_config(config: dict, source: str = 'checkpoint'
                              ) -> dict:
    """The arch dict a released checkpoint's ``config`` describes.

    A known ``model_family`` is the released loader's preset (it overrides
    the config's own numbers); ``distill_output_dim`` is the projection width.
    Malformed or contradictory values raise :class:`ReleasedConfigError`.
    """
    if not isinstance(config, dict):
        raise ReleasedConfigError(
            f'{source}: malformed released config: expected a dict, found '
            f'{type(config).__name__}.')
    family = config.get('model_family')
    preset = _RELEASED_PRESETS.get(str(family).lower()) if family else None
    arch = {}
    for field, key in _RELEASED_ARCH_FIELDS.items():
        if field not in config:
            if preset is None:
                raise ReleasedConfigError(
                    f'{source}: malformed released config: no {field!r} and '
                    f'model_family={family!r} is not one of '
                    f'{sorted(_RELEASED_PRESETS)}, so the arch is unknown.')
            arch[key] = preset[field]
            continue
        arch[key] = _config_number(config, field,
                                   float if field == 'mlp_ratio' else int,
                                   source)
        if preset is not None and abs(arch[key] - preset[field]) > 1e-9:
            raise ReleasedConfigError(
                f'{source}: malformed released config: {field}={arch[key]} '
                f'contradicts model_family={family!r} ({field}='
                f'{preset[field]}), whose preset the released loader '
                'applies.')
    if 'distill_output_dim' in config:
        arch['distill_dims'] = _config_number(config, 'distill_output_dim',
                                              int, source, allow_none=True)
    try:
        return resolve_arch(arch)
    except (TypeError, ValueError) as e:
        fields = ', '.join(f'{f} = {k}' for f, k in
                           _RELEASED_ARCH_FIELDS.items() if f != k)
        raise ReleasedConfigError(
            f'{source}: malformed released config: {e} (released names: '
            f'{fields}, distill_output_dim = distill_dims)') from None


def veca_args_from_released_config(config: dict,
                                   source: str = 'checkpoint') -> dict:
    """The ``VECA`` arguments that reproduce a released ``config``'s forward.

    Fields the released code reads but ``VECA`` cannot reproduce raise
    :class:`ReleasedConfigError` naming the field and value; missing fields
    take the released defaults, as the released loader does.
    """
    args = dict(arch=arch_from_released_config(config, source))
    unknown = sorted(set(map(str, config)) - RELEASED_FORWARD_FIELDS -
                     RELEASED_TRAINING_FIELDS)
    if unknown:
        raise ReleasedConfigError(
            f'{source}: released config field(s) {unknown} are unknown to '
            'veca_mm (released code f9394e9), so whether they change the '
            'forward cannot be told; if they do not, delete them from '
            "ckpt['config'] and re-save.")
    config = dict(config)
    if 'matryoshka_chunk_size' in config:  # older files
        legacy = config.pop('matryoshka_chunk_size')
        if config.get('nested_chunk_size', legacy) != legacy:
            raise ReleasedConfigError(
                f'{source}: malformed released config: nested_chunk_size='
                f'{config["nested_chunk_size"]!r} and its legacy name '
                f'matryoshka_chunk_size={legacy!r} disagree.')
        config['nested_chunk_size'] = legacy
    for field, (arg, default) in RELEASED_FIELDS.items():
        value = config.get(field, default)
        if field in ('patch_size', 'in_channels', 'nested_chunk_size'):
            value = _config_number({field: value}, field, int, source)
        elif field == 'patch_embed_use_ln':
            if not isinstance(value, bool):
                raise ReleasedConfigError(
                    f'{source}: malformed released config: {field}={value!r}'
                    ' is not a bool.')
        elif field == 'rope_zero_freqs_from':
            if value not in ('low', 'high'):
                raise ReleasedConfigError(
                    f'{source}: released config {field}={value!r}: the '
                    "released code knows only 'low' and 'high'.")
        else:
            value = _config_number({field: value}, field, float, source,
                                   allow_none=field != 'rope_p_zero_freqs')
        args[arg] = value
        if arg in SCALAR_CHECKS:  # VECA's ranges, named by the file's field
            try:
                check_veca_args(**{arg: value})
            except (TypeError, ValueError) as e:
                raise ReleasedConfigError(
                    f'{source}: malformed released config: {field}: {e}'
                ) from None
    dropout = config.get('dropout', 0.0)
    if dropout not in (0, 0.0, None):
        raise ReleasedConfigError(
            f'{source}: released config dropout={dropout!r}: this VECA has '
            'no dropout layers (every released family uses 0.0) and no '
            'argument reproduces it; re-save the checkpoint with '
            "config['dropout'] = 0.0 if you accept training without it.")
    return args


# VECA argument / arch key -> released config field, for error messages.
_RELEASED_NAME = {arg: f'{field} (VECA {arg})'
                  for field, (arg, _) in RELEASED_FIELDS.items()}
_RELEASED_NAME.update({key: f'{field} (arch {key})'
                       for field, key in _RELEASED_ARCH_FIELDS.items()})
_RELEASED_NAME['distill_dims'] = 'distill_output_dim (arch distill_dims)'

# Fields of the released config dataclasses that do not change what a loaded
# model computes (initialisation, teacher, training schedule, data, logging).
RELEASED_TRAINING_FIELDS = frozenset('''
model_family init_patch_from_dinov3 dinov3_timm_name fps_pool_size
fps_coord_range nested_budgets nested_budget_weights matryoshka_budgets
matryoshka_budget_weights teacher_id teacher_num_register_tokens
teacher_compile teacher_compile_mode teacher_dtype weight_dense
dense_norm_eps dense_mse_weight lr lr_min adamw_eps weight_decay
mixed_precision train_dir val_dir index_dir train_index val_index
wandb_project wandb_entity wandb_run_name wandb_log_every normuon_mu
normuon_beta2 normuon_nesterov normuon_adjust_lr normuon_use_triton
normuon_flatten normuon_cautious_wd base_seed image_size resize_short
val_active_k teacher_microbatch batch_size epochs warmup_epochs
steps_per_epoch num_workers save_every_epochs validate_every_epochs
ckpt_name best_ckpt_name resolutions resize_short_by_res batch_size_by_res
teacher_microbatch_by_res phase_a_steps phase_a_probs total_steps
phase_b_probs freeze_pos_steps warmup_steps eval_every_steps
save_every_steps milestone_steps val_steps_by_res val_budgets
save_best_by_avg_val always_save_latest train_num_workers val_num_workers
prefetch_factor init_ckpt ft_ckpt_name resume_if_exists resolution_seed
'''.split())
# Fields that change the forward (honoured through RELEASED_FIELDS, the arch
# or checked: dropout).
RELEASED_FORWARD_FIELDS = frozenset(
    set(RELEASED_FIELDS) | set(_RELEASED_ARCH_FIELDS) |
    {'distill_output_dim', 'matryoshka_chunk_size', 'dropout'})
_CHECKPOINT_ARGS = ('arch', ) + tuple(a for a, _ in RELEASED_FIELDS.values())


def _head(keys: List[str], n: int = 8) -> str:
    return ', '.join(keys[:n]) + (f', ... (+{len(keys) - n})'
                                  if len(keys) > n else '')


def _strip(key: str, prefixes: Sequence[str]) -> str:
    changed = True
    while changed:
        changed = False
        for p in prefixes:
            if key.startswith(p):
                key, changed = key[len(p):], True
    return key


_VECA_MARKERS = ('patch_embed.proj.weight', 'query_token_chunks.0',
                 'blocks.0.attn.q_proj.weight')


def description_from_meta(meta, path: str = '<checkpoint>'
                          ) -> Optional[dict]:
    """The checkpoint args an mm checkpoint's ``meta`` records (written by
    ``tools/model_converters/veca2mm.py``), or None."""
    if not isinstance(meta, dict):
        return None
    if 'veca_args' in meta:
        args = meta['veca_args']
        if not isinstance(args, dict) or set(args) != set(_CHECKPOINT_ARGS):
            raise ValueError(
                f'{path}: malformed meta.veca_args {args!r}: expected a dict '
                f'with exactly the keys {_CHECKPOINT_ARGS}; re-convert the '
                'released file with tools/model_converters/veca2mm.py.')
        try:
            return dict(args, arch=resolve_arch(args['arch']))
        except (TypeError, ValueError) as e:
            raise ValueError(f'{path}: malformed meta.veca_args: {e}') \
                from None
    if 'veca_arch' in meta:  # converters before veca_args
        desc = dict(arch=resolve_arch(meta['veca_arch']))
        for key, arg in (('patch_norm', 'patch_norm'),
                         ('patch_size', 'patch_size'),
                         ('core_chunk', 'core_chunk')):
            if key in meta:
                desc[arg] = meta[key]
        return desc
    return None


def extract_veca_state_dict(ckpt, path: str = '<checkpoint>',
                            prefix: Optional[str] = None
                            ) -> Tuple[Dict[str, torch.Tensor],
                                       Optional[dict]]:
    """The backbone's state dict and (if recorded) its description, from
    any of the released / mm whole-model / mm backbone-only / plain
    state-dict forms.

    The description is the dict of ``VECA`` arguments that fix the forward
    (``arch``, ``patch_size``, ``core_chunk``, RoPE and coordinate fields,
    see :meth:`VECA.checkpoint_args`), read from a released ``config`` or the
    converter's ``meta``; a malformed one is an error, never skipped.
    ``prefix``: keep only the keys under it (mmengine's ``Pretrained``
    ``prefix``), stripped.
    """
    if not isinstance(ckpt, dict):
        raise ValueError(f'{path} is not a checkpoint dict (found '
                         f'{type(ckpt).__name__}).')
    desc = None
    if 'student' in ckpt:  # released research checkpoint
        raw, strip = ckpt['student'], ('module.', 'student.')
        if 'config' in ckpt:
            desc = veca_args_from_released_config(ckpt['config'], path)
    elif 'state_dict' in ckpt:  # mmengine checkpoint
        raw, strip = ckpt['state_dict'], ('module.', )
        desc = description_from_meta(ckpt.get('meta'), path)
    elif ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        raw, strip = ckpt, ('module.', 'backbone.')
    else:
        raise ValueError(
            f'{path} is neither a released VECA checkpoint (a dict with '
            '"student"), an mm checkpoint (a dict with "state_dict") nor a '
            'state dict; its top-level keys are '
            f'{_head(sorted(map(str, ckpt)))}.')
    if not isinstance(raw, dict):
        raise ValueError(f'{path}: the weights are a {type(raw).__name__}, '
                         'not a state dict.')
    if prefix:
        p = prefix if prefix.endswith('.') else prefix + '.'
        sub = {k[len(p):]: v for k, v in raw.items() if k.startswith(p)}
        if not sub:
            raise ValueError(
                f'{path}: no key starts with prefix {p!r} (init_cfg prefix); '
                f'its keys look like {_head(sorted(raw), 5)}.')
        raw = sub
    state = {_strip(k, strip): v for k, v in raw.items()}
    check_tensors(state, path)
    if not prefix and 'state_dict' in ckpt and any(
            k.startswith('backbone.') for k in state):
        state = {k[len('backbone.'):]: v for k, v in state.items()
                 if k.startswith('backbone.')}
    if (desc is not None and 'student' in ckpt
            and 'distill_output_dim' not in ckpt['config']
            and 'output_proj.weight' in state):
        # a config from before the field: the width is in the weights
        desc['arch'] = resolve_arch(dict(
            desc['arch'], distill_dims=state['output_proj.weight'].shape[0]))
    if not any(m in state for m in _VECA_MARKERS):
        raise ValueError(
            f'{path} does not hold VECA weights (none of {_VECA_MARKERS}); '
            f'its keys look like {_head(sorted(state), 5)}. Is it a '
            'checkpoint of another model type?')
    if desc is not None:
        _check_description_fits(desc, state, path)
    return state, desc


def check_tensors(state: dict, source: str) -> None:
    """Every value of a state dict is a tensor."""
    bad = sorted(str(k) for k, v in state.items()
                 if not isinstance(v, torch.Tensor))
    if bad:
        raise ValueError(f'{source}: {_head(bad)} is not a tensor (found '
                         f'{type(state[bad[0]]).__name__}); a state dict '
                         'maps parameter names to tensors.')


def _weight_numbers(state: Dict[str, torch.Tensor]) -> dict:
    """What the weights themselves fix of a VECA's description."""
    found = dict(distill_dims=state['output_proj.weight'].shape[0]
                 if 'output_proj.weight' in state else None)
    w = state.get('patch_embed.proj.weight')
    if w is not None and w.dim() == 4:
        found.update(embed_dims=w.shape[0], in_channels=w.shape[1],
                     patch_size=w.shape[2])
    chunks = [v for k, v in state.items()
              if k.startswith('query_token_chunks.') and v.dim() == 3]
    if chunks:
        found.update(num_cores=sum(c.shape[1] for c in chunks),
                     core_chunk=chunks[0].shape[1])
    blocks = {k.split('.')[1] for k in state if k.startswith('blocks.')}
    if blocks and all(b.isdigit() for b in blocks):
        found['num_layers'] = 1 + max(map(int, blocks))
    fc2 = state.get('blocks.0.fc2.weight')
    if fc2 is not None and fc2.dim() == 2:
        found['ffn_width'] = fc2.shape[1]
    return found


def _check_description_fits(desc: dict, state: Dict[str, torch.Tensor],
                            path: str) -> None:
    """The file's description and its own weights agree (before anything is
    built from the description: a junk width would allocate it)."""
    arch = desc['arch']
    said = dict(arch, ffn_width=int(arch['embed_dims'] * arch['mlp_ratio']),
                distill_dims=arch.get('distill_dims'),
                **{k: desc[k] for k in ('patch_size', 'in_channels',
                                        'core_chunk') if k in desc})
    names = dict(_RELEASED_NAME,
                 ffn_width='FFN width int(hidden_dim * mlp_ratio)')
    bad = [f'{names.get(k, k)}={said[k]!r} but its weights have {k}={v!r}'
           for k, v in _weight_numbers(state).items()
           if k in said and said[k] != v]
    if bad:
        raise ValueError(f'{path} contradicts itself: its description says '
                         + '; '.join(bad) + '. The file is damaged or was '
                         'edited; re-save or re-convert it.')


def infer_arch_from_state_dict(state: Dict[str, torch.Tensor]
                               ) -> Optional[dict]:
    """Best guess of the arch a VECA state dict was made with (the head
    count is not in the weights: '?' unless a released family fits)."""
    try:
        D = state['patch_embed.proj.weight'].shape[0]
        L = 1 + max(int(k.split('.')[1]) for k in state
                    if k.startswith('blocks.'))
        M = sum(state[k].shape[1] for k in state
                if k.startswith('query_token_chunks.'))
        F_ = state['blocks.0.fc2.weight'].shape[1]
    except (KeyError, ValueError, IndexError):
        return None
    dd = state['output_proj.weight'].shape[0] \
        if 'output_proj.weight' in state else None
    for name, s in ARCH_SETTINGS.items():
        if (s['embed_dims'], s['num_layers'], s['num_cores'],
                int(s['embed_dims'] * s['mlp_ratio'])) == (D, L, M, F_):
            return dict(s, distill_dims=dd) if dd else {
                k: v for k, v in s.items() if k != 'distill_dims'}
    arch = dict(embed_dims=D, num_layers=L, num_heads='?',
                mlp_ratio=round(F_ / D, 5), num_cores=M)
    if dd:
        arch['distill_dims'] = dd
    return arch


# ---------------------------------------------------------------------- #
# Strict loading and its diagnostics
DESC_HINT = ('\n(veca_mm.apis.init_backbone builds the VECA a checkpoint '
             'describes; tools/model_converters/veca2mm.py --print-config '
             'prints its backbone=dict(...).)')


def state_dict_diff_lines(own: Dict[str, torch.Tensor],
                          given: Dict[str, torch.Tensor],
                          noun: str = 'keys') -> List[str]:
    """The missing, unexpected and mis-shaped keys of ``given`` against a
    model's ``own`` state dict, one message line each (none: it fits)."""
    missing = sorted(set(own) - set(given))
    unexpected = sorted(set(given) - set(own))
    wrong = sorted(f'{k} ckpt {tuple(given[k].shape)} vs model '
                   f'{tuple(own[k].shape)}' for k in set(own) & set(given)
                   if own[k].shape != given[k].shape)
    lines = []
    if missing:
        lines.append(f'  missing {noun} ({len(missing)}): {_head(missing)}')
    if unexpected:
        lines.append(f'  unexpected {noun} ({len(unexpected)}): '
                     f'{_head(unexpected)}')
    if wrong:
        lines.append(f'  shape mismatches: {_head(wrong)}')
    return lines


def description_mismatches(args: dict, desc: Optional[dict],
                           coord_aug: bool = True) -> List[str]:
    """Where a VECA built with ``args`` (its ``checkpoint_args()``) differs
    from a checkpoint's description ``desc``: one line per field, naming
    the argument to set. With ``coord_aug=False`` (an explicit opt-out of
    the train-mode coordinate augmentation) its parts are not compared."""
    if not desc:
        return []
    bad = []
    arch, own = desc.get('arch'), args['arch']
    if arch is not None:
        for k in ARCH_KEYS + OPTIONAL_ARCH_KEYS:
            a, b = arch.get(k), own.get(k)
            if k == 'mlp_ratio':  # equal when the hidden width is
                same = int(own['embed_dims'] * a) == int(own['embed_dims'] * b)
            else:
                same = a == b
            if not same:
                bad.append(f'{_RELEASED_NAME.get(k, k)}={a!r} but this VECA '
                           f'has arch {k}={b!r}: set arch={arch_name(arch)!r}')
    for arg, value in desc.items():
        if arg == 'arch' or (arg.startswith('coord_') and not coord_aug):
            continue
        have = args[arg]
        same = (abs(value - have) < 1e-9 if isinstance(value, float)
                and isinstance(have, (int, float)) else value == have)
        if not same:
            bad.append(f'{_RELEASED_NAME.get(arg, arg)}={value!r} but this '
                       f'VECA has {arg}={have!r}: set {arg}={value!r}')
    return ['  the checkpoint\'s ' + b for b in bad]


def _fit_hints(model: nn.Module, state: Dict[str, torch.Tensor],
               ckpt_arch: Optional[dict]) -> List[str]:
    """What to change in the VECA's arguments so that ``state`` fits."""
    lines = []
    ckpt_arch = ckpt_arch or infer_arch_from_state_dict(state)
    if ckpt_arch is not None and ckpt_arch != model.arch:
        lines.append(f'  the checkpoint is arch={arch_name(ckpt_arch)!r}; '
                     'build VECA with that arch.')
    width = state['output_proj.weight'].shape[0] \
        if 'output_proj.weight' in state else None
    if width is not None and model.distill_dims is None:
        lines.append(f'  it has a distillation projection output_proj '
                     f'({width} wide): use an arch with distill_dims={width}.')
    elif width is None and model.distill_dims:
        lines.append('  it has no distillation projection output_proj (a '
                     'student built without a teacher): use an arch dict '
                     'with distill_dims=None.')
    if any(k.startswith('patch_embed.norm') for k in state) and \
            not hasattr(model.patch_embed, 'norm'):
        lines.append('  it has a patch-embedding LayerNorm: set '
                     'patch_norm=True.')
    return lines


def load_veca_state_dict(model: nn.Module, state: Dict[str, torch.Tensor],
                         ckpt_arch: Optional[dict] = None,
                         source: str = 'state dict',
                         description: Optional[dict] = None) -> None:
    """Load ``state`` into the VECA ``model`` strictly; a key, shape or
    description that disagrees is one error naming what would fit."""
    check_tensors(state, source)
    own = model.state_dict()
    wrong = sorted(k for k in set(own) & set(state)
                   if own[k].is_floating_point()
                   and not state[k].is_floating_point())
    if wrong:
        raise ValueError(
            f'Checkpoint {source}: {_head(wrong)} hold '
            f'{state[wrong[0]].dtype} values for floating-point parameters; '
            'half, bfloat16 and float64 load, integer, bool and complex '
            'dtypes do not (they are not weights of this model).')
    described = description_mismatches(model.checkpoint_args(), description,
                                       model.coord_aug)
    diff = state_dict_diff_lines(model.state_dict(), state)
    if diff:
        lines = [f'Checkpoint {source} does not fit VECA(arch='
                 f'{model.arch_name!r}, patch_norm='
                 f'{hasattr(model.patch_embed, "norm")}).']
        raise ValueError('\n'.join(
            lines + diff + _fit_hints(model, state, ckpt_arch) + described) +
            (DESC_HINT if described else ''))
    if described:
        raise ValueError(f'{source} describes a VECA this one does not '
                         'reproduce:\n' + '\n'.join(described) + DESC_HINT)
    model.load_state_dict(state, strict=True)
    print_log(f'VECA: loaded {len(state)} tensors from {source}',
              logger='current')


def load_pretrained(model: nn.Module, checkpoint: str,
                    prefix: Optional[str] = None, map_location='cpu') -> None:
    """Read a released, whole-model mm or backbone-only checkpoint
    (``weights_only=True``) and load it into ``model`` strictly (see
    ``VECA.load_pretrained``)."""
    path = str(checkpoint)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'VECA pretrained checkpoint {path!r} not found. Convert a '
            'released checkpoint first:\n  python tools/model_converters/'
            f'veca2mm.py RELEASED.pt {path}\nor train from scratch with '
            '--cfg-options model.backbone.init_cfg=None')
    ckpt = load_checkpoint_safely(path, map_location=map_location)
    state, desc = extract_veca_state_dict(ckpt, path, prefix=prefix)
    load_veca_state_dict(model, state, desc['arch'] if desc else None,
                         source=path, description=desc)
