"""veca_mm: VECA backbones for OpenMMLab dense prediction.

``custom_imports=dict(imports=['veca_mm'])`` registers everything once in
mmengine's root registries, where mmseg's and mmdet's find it.
"""
from .utils.safe_load import register_safe_globals
from .version import __version__

# The one process-wide change: torch >= 2.6 loads with weights_only=True, and
# mmengine's own checkpoints need a small allowlist of plain-data classes to
# resume. Exactly SAFE_GLOBALS is added; see docs/install.md ("The
# weights-only allowlist") and veca_mm/utils/safe_load.py.
register_safe_globals()

from . import datasets, engine, evaluation, models  # noqa: E402,F401
from .utils.cuda_ops import warn_if_cpu_only_ops  # noqa: E402

# Warns once on a CUDA machine whose mmcv ops are CPU-only (docs/gpu.md).
warn_if_cpu_only_ops()

__all__ = ['__version__', 'register_safe_globals']
