"""LayerNorm over the channels of ``B x C x H x W`` maps."""
import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import MODELS


@MODELS.register_module('LN2d')
class LN2d(nn.LayerNorm):
    """Channels-first LayerNorm, the norm plain-ViT pyramids use (ViTDet).

    Registered in mmengine's root MODELS so mmcv's ``build_norm_layer(
    dict(type='LN2d'), C)`` finds it from mmseg and mmdet configs.
    """
    _abbr_ = 'ln'

    def __init__(self, num_features: int, eps: float = 1e-6, **kwargs):
        super().__init__(num_features, eps=eps, **kwargs)

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias,
                         self.eps)
        return x.permute(0, 3, 1, 2)
