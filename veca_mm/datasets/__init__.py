# Importing registers the datasets in mmengine's root DATASETS registry,
# which mmseg's registry inherits from. NYUv2 uses mmseg's own NYUDataset.
from .kitti_depth import KITTIDepthDataset

__all__ = ['KITTIDepthDataset']
