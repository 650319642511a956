# Importing registers the datasets in mmengine's root DATASETS registry,
# which mmseg's registry inherits from. NYUv2 uses mmseg's own NYUDataset.
from .kitti_depth import KITTIDepthDataset
from .path_checks import DatasetPathError, check_dataset_paths
from .sample_guard import (BadSampleError, BadSampleGuard,
                           check_skip_bad_samples)

__all__ = ['KITTIDepthDataset', 'DatasetPathError', 'check_dataset_paths',
           'BadSampleError', 'BadSampleGuard', 'check_skip_bad_samples']
