from .atomic_checkpoint_hook import AtomicCheckpointHook
from .cast_weights_hook import CastWeightsHook
from .defaults import SAFETY_HOOKS, add_safety_hooks
from .finite_loss_hook import FiniteLossHook, NonFiniteLossError
from .iter_seed_hook import IterSeedHook, iteration_seed

__all__ = [
    'AtomicCheckpointHook', 'CastWeightsHook', 'FiniteLossHook', 'NonFiniteLossError',
    'IterSeedHook', 'iteration_seed', 'SAFETY_HOOKS', 'add_safety_hooks'
]
