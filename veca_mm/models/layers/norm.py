"""LayerNorm over the channels of ``B x C x H x W`` maps."""
from mmengine.registry import MODELS
from timm.layers import LayerNorm2d


@MODELS.register_module('LN2d')
class LN2d(LayerNorm2d):
    """timm's channels-first LayerNorm, registered for mm configs as ``LN2d``.

    The norm plain-ViT pyramids use (ViTDet): BatchNorm statistics are poor
    with the small per-GPU batches of dense tasks, and the ViT itself is
    LayerNorm-trained, so the neck normalises each pixel over its channels.
    The computation is timm's ``LayerNorm2d``; this subclass only registers
    it in mmengine's root MODELS (where mmseg's and mmdet's registries look
    last) so that mmcv's ``build_norm_layer(dict(type='LN2d'), C)`` and
    ``ConvModule`` find it, and turns a wrong input rank into a clear error.
    Being an ``nn.LayerNorm`` it counts as a norm layer (``is_norm``, no
    weight decay under ``norm_decay_mult``).

    Note ``build_norm_layer`` passes ``eps=1e-5`` unless the config sets one;
    :class:`SimplePyramidNeck` sets 1e-6 for LN2d itself.
    """
    _abbr_ = 'ln'

    def forward(self, x):
        if x.dim() != 4:
            raise ValueError(f'LN2d expects B x C x H x W maps, got shape '
                             f'{tuple(x.shape)}')
        return super().forward(x)
