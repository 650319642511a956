"""Loading mmengine checkpoints under ``torch.load(weights_only=True)``.

torch >= 2.6 defaults ``torch.load`` to ``weights_only=True``. mmengine
0.10.7 calls ``torch.load(filename, map_location=...)`` without the
argument, and its training checkpoints carry non-tensor objects in ``meta``
(the ``message_hub`` state with ``HistoryBuffer`` objects holding numpy
arrays, numpy scalars and the ``HistoryBuffer`` statistic functions), so
``--resume`` / ``load_from`` fail with an ``UnpicklingError``.

Rather than turning ``weights_only`` off, :func:`register_safe_globals` adds
the few plain-data globals such a checkpoint needs to torch's allowlist. The
list below was established by training a toy ``mmengine.runner.Runner`` and
reading what the weights-only unpickler refused (see
``tests/test_safe_load.py``). Everything else stays refused. ``import
veca_mm`` calls it once; that is veca_mm's only process-wide change (user
documentation: ``docs/install.md``, "The weights-only allowlist").
"""
import os
import pickle
import re
import struct
import zipfile
from typing import Any, Callable, List, Tuple, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

__all__ = [
    'SAFE_GLOBALS', 'register_safe_globals', 'load_checkpoint_safely',
    'UnsafeCheckpointError', 'CorruptCheckpointError'
]

# ``HistoryBuffer.__getstate__`` stores the class-level
# ``_statistics_methods`` dict (``{'min': HistoryBuffer.min, ...}``). pickle
# serialises these nested functions as ``builtins.getattr(HistoryBuffer,
# 'min')``. Allowing the real ``getattr`` would let a file reach any
# attribute of any allowlisted object (``__class__``, ``__subclasses__``,
# ``__globals__`` ...), i.e. arbitrary code. So ``builtins.getattr`` is mapped
# to this function, which only answers these four exact look-ups.
_HISTORY_BUFFER_STATISTICS = frozenset({'min', 'max', 'current', 'mean'})


def _history_buffer_getattr(obj: Any, name: Any) -> Callable:
    """Stand-in for ``builtins.getattr`` during weights-only loading."""
    if (obj is HistoryBuffer and isinstance(name, str)
            and name in _HISTORY_BUFFER_STATISTICS):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'veca_mm refused the pickled call builtins.getattr({obj!r}, '
        f'{name!r}): only HistoryBuffer statistic methods '
        f'({", ".join(sorted(_HISTORY_BUFFER_STATISTICS))}) may be looked up')


def _empty_bytes(*args: Any) -> bytes:
    """Stand-in for ``builtins.bytes`` during weights-only loading.

    Protocol-2 pickles write an empty ``bytes`` object (the raw data of an
    empty numpy array, e.g. an empty ``HistoryBuffer``) as ``bytes()``. Only
    that zero-argument call is answered.
    """
    if args:
        raise pickle.UnpicklingError(
            f'veca_mm refused the pickled call builtins.bytes{args!r}: only '
            'bytes() (empty) is allowed')
    return b''


def _resolve(*paths: str) -> Any:
    """Return the first ``module.attr`` of ``paths`` that exists.

    Resolves names across numpy 1 (``numpy.core``) and numpy 2
    (``numpy._core``) without importing deprecated shim modules.
    """
    import importlib
    for path in paths:
        module, _, attr = path.rpartition('.')
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f'none of {paths} could be resolved')


_NP_RECONSTRUCT = _resolve('numpy._core.multiarray._reconstruct',
                           'numpy.core.multiarray._reconstruct')
_NP_SCALAR = _resolve('numpy._core.multiarray.scalar',
                      'numpy.core.multiarray.scalar')

# Concrete numpy dtype classes (``numpy.dtypes.Float64DType`` ...) of the
# plain numeric / bool types. Object, string, void and datetime dtypes are
# deliberately absent: mmengine's logs never hold them, and an object array
# is the classic way to smuggle arbitrary objects into a "numpy" payload.
_NP_PLAIN_DTYPE_CHARS = '?bBhHiIlLqQefdgFDG'
_NP_DTYPE_CLASSES = tuple(
    sorted({type(np.dtype(c))
            for c in _NP_PLAIN_DTYPE_CHARS},
           key=lambda t: t.__name__))

# Each entry: a global, or ``(global, 'full.path.in.pickle')`` when the name
# written in the file differs from ``obj.__module__ + '.' + __qualname__``.
SAFE_GLOBALS: Tuple[Union[Any, Tuple[Any, str]], ...] = (
    # mmengine's MessageHub keeps logged scalars in HistoryBuffer: a plain
    # container of two numpy arrays; its __setstate__ only updates __dict__
    # and the statistics-method table (values come from this same allowlist).
    HistoryBuffer,
    # Reached as ``builtins.getattr(HistoryBuffer, 'min'|'max'|'mean'|
    # 'current')``; the stand-in refuses every other look-up (see above).
    (_history_buffer_getattr, 'builtins.getattr'),
    # ``bytes()``: the raw data of an empty numpy array; the stand-in refuses
    # any argument (no allocation of attacker-sized buffers).
    (_empty_bytes, 'builtins.bytes'),
    # numpy arrays pickle as _reconstruct(ndarray, shape, dtype) + setstate:
    # this only allocates an empty array of a given shape/dtype.
    (_NP_RECONSTRUCT, 'numpy.core.multiarray._reconstruct'),  # numpy 1 files
    (_NP_RECONSTRUCT, 'numpy._core.multiarray._reconstruct'),  # numpy 2 files
    # The array type itself; its __setstate__ copies raw bytes into the
    # buffer (object arrays stay refused: ObjectDType is not allowlisted).
    np.ndarray,
    # np.dtype('f8', ...) builds a dtype descriptor from a type string.
    np.dtype,
    # numpy scalars (np.float64(0.5) ...) pickle as scalar(dtype, raw bytes):
    # it reinterprets the bytes as one value of that dtype.
    (_NP_SCALAR, 'numpy.core.multiarray.scalar'),  # numpy 1 files
    (_NP_SCALAR, 'numpy._core.multiarray.scalar'),  # numpy 2 files
    # Concrete dtype classes that receive the dtype's __setstate__ (byte
    # order, itemsize, alignment flags): plain numeric / bool only.
    *_NP_DTYPE_CLASSES,
)


def register_safe_globals() -> List[Any]:
    """Add :data:`SAFE_GLOBALS` to torch's weights-only allowlist.

    Idempotent: torch keeps its allowlist as a set, so calling this again
    (e.g. after ``torch.serialization.clear_safe_globals()``) only restores
    the same entries.

    Returns:
        list: the entries of :data:`SAFE_GLOBALS`.
    """
    torch.serialization.add_safe_globals(list(SAFE_GLOBALS))
    return list(SAFE_GLOBALS)


class UnsafeCheckpointError(RuntimeError):
    """The checkpoint pickles an object outside the weights-only allowlist."""


class CorruptCheckpointError(RuntimeError):
    """The file is truncated, corrupt, or not a torch checkpoint."""


_REFUSED_PATTERNS = (
    r'Unsupported global: GLOBAL (\S+) was not an allowed global',
    r'Trying to load unsupported GLOBAL (\S+) whose module',
    r"but got <class '([^']+)'>",
    r'but got (\S+)$',
    r'reduce for unrecognized function (.+?)(?: which belongs to|$)',
    r'veca_mm refused the pickled call (builtins\.\w+\(.*?\)):',
)
# Weights-only refusal (as opposed to a byte stream that is not a pickle).
_REFUSAL_MARKERS = ('Unsupported global', 'allowlisted', 'allowed global',
                    'unrecognized function', 'is blocked', 'veca_mm refused')
_CORRUPT_RUNTIME_MARKERS = ('PytorchStreamReader', 'zip archive', 'EOF',
                            'corrupt', 'invalid header', 'truncated',
                            'magic number')


def _refused_global(message: str) -> str:
    for line in message.splitlines():
        for pattern in _REFUSED_PATTERNS:
            m = re.search(pattern, line.strip())
            if m:
                name = m.group(1).rstrip('.')
                # torch prints builtins without their module (``eval``).
                if re.fullmatch(r'[A-Za-z_]\w*', name):
                    name = f'builtins.{name}'
                return name
    return '<unknown global>'


def _corrupt(path: str, exc: BaseException) -> CorruptCheckpointError:
    return CorruptCheckpointError(
        f'Cannot read checkpoint {path!r}: the file is truncated, corrupt or '
        f'not a torch checkpoint ({type(exc).__name__}: '
        f'{str(exc).splitlines()[0] if str(exc) else "no detail"}). '
        'Re-download or re-save it.')


def load_checkpoint_safely(path: Union[str, os.PathLike],
                           map_location: Any = 'cpu',
                           mmap: bool = False) -> Any:
    """``torch.load(path, weights_only=True)`` with veca_mm's allowlist.

    ``mmap=True`` maps the tensors' data instead of reading it (zip-format
    files; others are read): keys and shapes without a second full read of
    a file that mmengine reads anyway.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UnsafeCheckpointError: (a ``RuntimeError``) the file pickles an
            object outside the allowlist; nothing of it was executed.
        CorruptCheckpointError: (a ``RuntimeError``) the file is truncated
            or not a torch checkpoint.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f'Checkpoint not found: {path!r}')
    register_safe_globals()
    try:
        return torch.load(path, map_location=map_location, weights_only=True,
                          mmap=mmap and zipfile.is_zipfile(path))
    except pickle.UnpicklingError as e:
        msg = str(e)
        if not any(marker in msg for marker in _REFUSAL_MARKERS):
            raise _corrupt(path, e) from e
        name = _refused_global(msg)
        raise UnsafeCheckpointError(
            f'Checkpoint {path!r} holds a pickled object outside the '
            f'weights-only allowlist: {name}. veca_mm refuses to load it, '
            'because unpickling arbitrary objects can execute code. If you '
            'trust the file, either re-save the tensors alone, e.g. '
            "torch.save({'state_dict': ckpt['state_dict']}, new_path) from "
            'a trusted environment, or allowlist that class explicitly with '
            f'torch.serialization.add_safe_globals([{name.split("(")[0]}]) '
            'before loading.') from None
    except (EOFError, KeyError, IndexError, ValueError, TypeError,
            OverflowError, struct.error) as e:
        # the weights-only unpickler runs no code: whatever it trips over in
        # damaged bytes (IndexError on an empty stack, a bad opcode...) is a
        # damaged file, not a bug to show as a traceback
        raise _corrupt(path, e) from e
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except OSError as e:
        raise _corrupt(path, e) from e
    except RuntimeError as e:
        if any(marker in str(e) for marker in _CORRUPT_RUNTIME_MARKERS):
            raise _corrupt(path, e) from e
        raise
