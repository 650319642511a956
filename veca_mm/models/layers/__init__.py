from .linear import Linear, compute_dtype
from .norm import LN2d
from .patch_embed import PatchEmbed, farthest_point_init

__all__ = ['LN2d', 'Linear', 'PatchEmbed', 'compute_dtype',
           'farthest_point_init']
