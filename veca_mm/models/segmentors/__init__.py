from .tiled_head import (TiledHeadDepthEstimator, TiledHeadEncoderDecoder,
                         TiledHeadMixin)

__all__ = [
    'TiledHeadMixin', 'TiledHeadEncoderDecoder', 'TiledHeadDepthEstimator'
]
