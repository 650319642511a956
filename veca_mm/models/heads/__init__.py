from .depth_head import MaskedSiLogLoss, VECADepthHead  # noqa: F401
from .linear_head import LinearDepthProbeHead, LinearProbeHead  # noqa: F401
