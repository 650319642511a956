# Importing registers every model piece in mmengine's root MODELS registry,
# which mmseg's and mmdet's registries inherit from.
from .backbones import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .segmentors import *  # noqa: F401,F403
