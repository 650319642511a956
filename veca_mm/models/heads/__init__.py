from .depth_head import MaskedSiLogLoss, VECADepthHead  # noqa: F401
