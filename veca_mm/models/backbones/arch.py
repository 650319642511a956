# Copyright (c) veca_mm contributors. Apache-2.0.
"""The VECA families and the validation of an ``arch`` (name or dict).

Shared by the backbone (:mod:`.veca`) and the released-checkpoint format
(:mod:`.released_format`), which both need the families' numbers.
"""
from typing import Dict, List, Union

from veca_mm.utils.checks import (check_bool, check_choice, check_int,
                                  check_number)

# The released families (see the paper's table / the spec in the README).
# ``distill_dims``: width of the distillation projection ``output_proj``. The
# released students were distilled from a 768-wide teacher (DINOv3 ViT-B/16)
# and carry ``output_proj`` (768 x D) wherever D != 768; base has none.
ARCH_SETTINGS: Dict[str, dict] = {
    'small': dict(embed_dims=384, num_layers=12, num_heads=6,
                  mlp_ratio=2.66667, num_cores=64, distill_dims=768),
    'splus': dict(embed_dims=384, num_layers=12, num_heads=6, mlp_ratio=4.0,
                  num_cores=64, distill_dims=768),
    'base': dict(embed_dims=768, num_layers=12, num_heads=12,
                 mlp_ratio=2.66667, num_cores=64),
    'large': dict(embed_dims=1024, num_layers=24, num_heads=16,
                  mlp_ratio=2.66667, num_cores=64, distill_dims=768),
}
ARCH_KEYS = ('embed_dims', 'num_layers', 'num_heads', 'mlp_ratio', 'num_cores')
# Optional: None (or equal to embed_dims) means no projection, no keys.
OPTIONAL_ARCH_KEYS = ('distill_dims', )
# farthest_point_init draws the initial core positions from this many points
FPS_POOL = 1000


def resolve_arch(arch: Union[str, dict]) -> dict:
    """Turn an arch name or dict into the numbers that define a VECA."""
    if isinstance(arch, str):
        if arch not in ARCH_SETTINGS:
            raise ValueError(
                f'Unknown VECA arch {arch!r}: use one of '
                f'{sorted(ARCH_SETTINGS)} or a dict with the keys {ARCH_KEYS}'
                f' (optionally {OPTIONAL_ARCH_KEYS}).')
        return dict(ARCH_SETTINGS[arch])
    if not isinstance(arch, dict):
        raise TypeError(f'VECA arch must be a str or a dict, got {type(arch)}')
    missing = [k for k in ARCH_KEYS if k not in arch]
    unknown = [k for k in arch if k not in ARCH_KEYS + OPTIONAL_ARCH_KEYS]
    if missing or unknown:
        raise ValueError(
            f'Bad VECA arch dict: missing keys {missing}, unknown keys '
            f'{unknown}; a custom arch needs exactly the keys {ARCH_KEYS} '
            f'(and optionally {OPTIONAL_ARCH_KEYS}).')
    arch = dict(arch)
    for key in ARCH_KEYS:  # before any division: no ZeroDivisionError
        arch[key] = (check_number(key, arch[key], lo=0, lo_open=True,
                                  owner='VECA arch') if key == 'mlp_ratio'
                     else check_int(key, arch[key], lo=1, owner='VECA arch'))
    check_int('num_cores', arch['num_cores'], hi=FPS_POOL, owner='VECA arch '
              f'(initial core positions come from {FPS_POOL} points)')
    if int(arch['embed_dims'] * arch['mlp_ratio']) < 1:
        raise ValueError(f'VECA arch mlp_ratio={arch["mlp_ratio"]} gives an '
                         f'FFN of int({arch["embed_dims"]} * mlp_ratio) = 0 '
                         'channels; use a larger mlp_ratio.')
    if arch['embed_dims'] % arch['num_heads']:
        raise ValueError(f'embed_dims={arch["embed_dims"]} is not divisible '
                         f'by num_heads={arch["num_heads"]}.')
    if (arch['embed_dims'] // arch['num_heads']) % 4:
        raise ValueError('VECA needs a head dim (embed_dims / num_heads) that '
                         'is a multiple of 4 for its 2-D RoPE; got '
                         f'{arch["embed_dims"] // arch["num_heads"]}.')
    dd = arch.pop('distill_dims', None)
    if dd is not None:
        if isinstance(dd, bool) or not isinstance(dd, int) or dd < 1:
            raise ValueError(f'arch distill_dims={dd!r}: use a positive int '
                             '(the distillation projection width) or None.')
        if dd != arch['embed_dims']:  # equal width: identity, no weights
            arch['distill_dims'] = dd
    return arch


def arch_name(arch: dict) -> Union[str, dict]:
    """The family name of an arch dict when it is a released one."""
    for name, setting in ARCH_SETTINGS.items():
        if all(setting.get(k) == arch.get(k)
               for k in ARCH_KEYS + OPTIONAL_ARCH_KEYS):
            return name
    return arch


# VECA's scalar arguments and their checks (veca_mm.utils.checks): the wrong
# kind is a TypeError, NaN or out of range a ValueError, at build time.
FLAGS = ('patch_norm', 'final_norm', 'output_cls_token', 'coord_aug',
         'distill_proj', 'with_cp', 'frozen')
SCALAR_CHECKS = dict(
    patch_size=(check_int, dict(lo=1)), in_channels=(check_int, dict(lo=1)),
    core_chunk=(check_int, dict(lo=1)),
    # positions live in [-1, 1]: beyond 1e3 image sizes is no augmentation
    coord_shift=(check_number, dict(lo=0, hi=1e3, allow_none=True)),
    coord_jitter=(check_number, dict(lo=1, hi=1e3, allow_none=True)),
    coord_rescale=(check_number, dict(lo=1, hi=1e3, allow_none=True)),
    rope_zero_fraction=(check_number, dict(lo=0, hi=1)),
    rope_zero_from=(check_choice, dict(choices=('low', 'high'))),
    drop_path_rate=(check_number, dict(lo=0, hi=1, hi_open=True)),
    **{flag: (check_bool, {}) for flag in FLAGS})


def check_veca_args(owner: str = 'VECA', **args) -> None:
    """Raise unless each of ``args`` (scalar ``VECA`` arguments, see
    ``SCALAR_CHECKS``) has the right kind and range; the error names it."""
    for name, value in args.items():
        check, bounds = SCALAR_CHECKS[name]
        check(name, value, owner=owner, **bounds)


def check_layer_indices(out_indices, num_layers: int) -> List[int]:
    """``out_indices`` (an int or ints in ``[-L, L)``) as layers ``[0, L)``,
    each once and in layer order, the order the maps come out in."""
    L = num_layers
    if isinstance(out_indices, int) and not isinstance(out_indices, bool):
        out_indices = [out_indices]
    if not isinstance(out_indices, (list, tuple)):
        raise TypeError(f'out_indices={out_indices!r}: use an int or a '
                        'list/tuple of layer indices.')
    if not out_indices:
        raise ValueError(
            'out_indices is empty: the backbone would return no feature '
            f'map. Give layer indices in [{-L}, {L - 1}], e.g. -1 (the '
            'last layer) or (3, 5, 7, 11).')
    for i in out_indices:
        check_int('out_indices', i, owner='VECA (an entry of)')
        if not -L <= i < L:
            raise ValueError(
                f'out_indices contains {i}, out of range for a {L}-layer '
                f'VECA: use layer indices in [{-L}, {L - 1}].')
    layers = [i % L for i in out_indices]
    if layers != sorted(set(layers)):
        raise ValueError(
            f'out_indices={tuple(out_indices)} are layers {layers}: list each '
            'layer once, in layer order (the order the maps come out in).')
    return layers


def is_pretrained_cfg(cfg: dict) -> bool:
    t = cfg.get('type')
    return t == 'Pretrained' or getattr(t, '__name__', None) == \
        'PretrainedInit'


def check_init_cfg(init_cfg) -> List[dict]:
    """The entries of a VECA ``init_cfg``, checked when the model is built
    (not at ``init_weights``, after the runner has been built)."""
    cfgs = init_cfg if isinstance(init_cfg, list) else (
        [] if init_cfg is None else [init_cfg])
    for c in cfgs:
        if not isinstance(c, dict) or not isinstance(c.get('type'),
                                                      (str, type)):
            raise TypeError(f'VECA init_cfg entries must be dicts with a '
                            f'"type", got {c!r}.')
    pretrained = [c for c in cfgs if is_pretrained_cfg(c)]
    if len(pretrained) > 1:
        raise ValueError('VECA init_cfg holds several Pretrained entries '
                         f'({pretrained}); keep one.')
    for c in pretrained:
        unknown = sorted(set(c) - {'type', 'checkpoint', 'prefix',
                                   'map_location'})
        if unknown or 'checkpoint' not in c:
            raise ValueError(
                f'VECA init_cfg {c}: Pretrained takes checkpoint (required),'
                f' prefix and map_location; unknown {unknown}.')
    return cfgs
