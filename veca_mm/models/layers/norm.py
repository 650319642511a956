"""LayerNorm over the channels of ``B x C x H x W`` maps."""
import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import MODELS


@MODELS.register_module('LN2d')
class LN2d(nn.LayerNorm):
    """Channels-first LayerNorm, the norm plain-ViT pyramids use (ViTDet).

    BatchNorm statistics are poor with the small per-GPU batches of dense
    tasks, and the ViT itself is LayerNorm-trained, so the neck normalises
    each pixel over its channels instead. Registered in mmengine's root
    MODELS (where mmseg's and mmdet's registries look last) so that mmcv's
    ``build_norm_layer(dict(type='LN2d'), C)`` and ``ConvModule`` find it;
    subclassing ``nn.LayerNorm`` keeps it recognised as a norm layer
    (``is_norm``, no weight decay under ``norm_decay_mult``).

    Note ``build_norm_layer`` passes ``eps=1e-5`` unless the config sets one;
    :class:`SimplePyramidNeck` sets 1e-6 for LN2d itself.
    """
    _abbr_ = 'ln'

    def __init__(self, num_features: int, eps: float = 1e-6, **kwargs):
        super().__init__(num_features, eps=eps, **kwargs)

    def forward(self, x):
        if x.dim() != 4:
            raise ValueError(f'LN2d expects B x C x H x W maps, got shape '
                             f'{tuple(x.shape)}')
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias,
                         self.eps)
        return x.permute(0, 3, 1, 2).contiguous()
