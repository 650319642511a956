# Copyright (c) veca_mm contributors. Apache-2.0.
"""The VECA families and the validation of an ``arch`` (name or dict).

Shared by the backbone (:mod:`.veca`) and the released-checkpoint format
(:mod:`.released_format`), which both need the families' numbers.
"""
from typing import Dict, Union

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
