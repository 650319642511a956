from .veca import VECA
from .veca_lora import VECALoRA

__all__ = ['VECA', 'VECALoRA']
