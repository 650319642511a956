from .norm import LN2d
from .patch_embed import PatchEmbed, farthest_point_init

__all__ = ['LN2d', 'PatchEmbed', 'farthest_point_init']
