from .hooks import (AtomicCheckpointHook, FiniteLossHook, IterSeedHook,
                    NonFiniteLossError, add_safety_hooks)
from .optimizers import (VECALayerDecayOptimizerConstructor,
                         get_layer_id_for_veca)

__all__ = [
    'VECALayerDecayOptimizerConstructor', 'get_layer_id_for_veca',
    'AtomicCheckpointHook', 'FiniteLossHook', 'IterSeedHook',
    'NonFiniteLossError', 'add_safety_hooks'
]
