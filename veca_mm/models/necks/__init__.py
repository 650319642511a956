from .pyramid_neck import SimplePyramidNeck

__all__ = ['SimplePyramidNeck']
