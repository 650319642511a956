# Importing registers the metrics in mmengine's root METRICS registry.
from .depth_metric import VECADepthMetric

__all__ = ['VECADepthMetric']
