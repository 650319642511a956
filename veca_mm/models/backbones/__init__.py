from .veca import VECA

__all__ = ['VECA']
