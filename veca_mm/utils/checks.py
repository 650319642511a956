# Copyright (c) veca_mm contributors. Apache-2.0.
"""Argument checks that name the argument, for the registered classes.

A bool is not an int here (``True`` for a layer count is a config slip, not
1), a float is not an int (``4.0`` for a width fails deep in torch), and NaN
or inf is never a number: each raises at build time, as a TypeError (wrong
kind) or ValueError (out of range), instead of a TypeError from an operator
several frames down or a NaN at the first forward.
"""
import math
from numbers import Integral, Real
from typing import Any, Optional, Sequence

__all__ = ['check_int', 'check_number', 'check_bool', 'check_choice']


def _where(owner: str, name: str, value: Any) -> str:
    return f'{owner}: {name}={value!r}' if owner else f'{name}={value!r}'


def _bounds(lo, hi, lo_open=False, hi_open=False) -> str:
    parts = []
    if lo is not None:
        parts.append(f'{">" if lo_open else ">="} {lo}')
    if hi is not None:
        parts.append(f'{"<" if hi_open else "<="} {hi}')
    return ' and '.join(parts)


def check_int(name: str, value: Any, lo: Optional[int] = None,
              hi: Optional[int] = None, owner: str = '') -> int:
    """``value`` as an int in ``[lo, hi]``; TypeError / ValueError naming
    ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f'{_where(owner, name, value)} must be an int'
                        f'{" " + _bounds(lo, hi) if lo is not None or hi is not None else ""}'
                        f', not {type(value).__name__}.')
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValueError(f'{_where(owner, name, value)} is out of range: '
                         f'use an int {_bounds(lo, hi)}.')
    return int(value)


def check_number(name: str, value: Any, lo: Optional[float] = None,
                 hi: Optional[float] = None, lo_open: bool = False,
                 hi_open: bool = False, allow_none: bool = False,
                 owner: str = '') -> Optional[float]:
    """``value`` as a finite float in the given bounds (or None when
    ``allow_none``); TypeError / ValueError naming ``name`` otherwise."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f'{_where(owner, name, value)} must be a number'
                        f'{" or None" if allow_none else ""}, not '
                        f'{type(value).__name__}.')
    value = float(value)
    bad = not math.isfinite(value) or (lo is not None and (
        value <= lo if lo_open else value < lo)) or (hi is not None and (
            value >= hi if hi_open else value > hi))
    if bad:
        bounds = _bounds(lo, hi, lo_open, hi_open)
        raise ValueError(f'{_where(owner, name, value)} is out of range: '
                         f'use a finite number{" " + bounds if bounds else ""}'
                         f'{" or None" if allow_none else ""}.')
    return value


def check_bool(name: str, value: Any, owner: str = '') -> bool:
    """``value`` if it is a bool; a TypeError naming ``name`` otherwise
    (``'no'`` or ``1`` would silently mean True)."""
    if not isinstance(value, bool):
        raise TypeError(f'{_where(owner, name, value)} must be True or '
                        f'False, not {type(value).__name__}.')
    return value


def check_choice(name: str, value: Any, choices: Sequence,
                 owner: str = '') -> Any:
    """``value`` if it is one of ``choices``; a ValueError naming ``name``
    otherwise."""
    if isinstance(value, bool) or value not in choices:
        raise ValueError(f'{_where(owner, name, value)}: use one of '
                         f'{list(choices)}.')
    return value
