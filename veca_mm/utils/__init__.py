from .safe_load import (SAFE_GLOBALS, CorruptCheckpointError,
                        UnsafeCheckpointError, load_checkpoint_safely,
                        register_safe_globals)

__all__ = [
    'SAFE_GLOBALS', 'register_safe_globals', 'load_checkpoint_safely',
    'UnsafeCheckpointError', 'CorruptCheckpointError'
]
