# Copyright (c) veca_mm contributors. Apache-2.0.
"""How per-stage core budgets map to layers: one rule for the model
(``VECA.forward``) and the FLOP formulas (``veca_mm.utils.flops``).

Plain Python (no torch), so the FLOP counter can use it without a model.
"""
from typing import Sequence, Tuple, Union

__all__ = ['layer_budgets']


def layer_budgets(budgets: Union[int, Sequence[int]], num_layers: int,
                  name: str = 'core_budgets') -> Tuple[int, ...]:
    """One core budget per layer from an int or one budget per stage.

    The layers split into ``len(budgets)`` equal consecutive stages; stage
    ``s`` runs every one of its layers with ``budgets[s]`` cores.
    """
    budgets = (budgets, ) if isinstance(budgets, int) else tuple(budgets)
    if not budgets:
        raise ValueError(f'{name} is empty: give one budget, or one per '
                         'stage.')
    if num_layers % len(budgets):
        divisors = [d for d in range(1, num_layers + 1)
                    if num_layers % d == 0]
        raise ValueError(
            f'{name}={budgets} has {len(budgets)} per-stage budgets, but '
            f'the {num_layers} layers do not split into {len(budgets)} '
            f'equal stages; give a number of budgets in {divisors}.')
    per_stage = num_layers // len(budgets)
    return tuple(budgets[i // per_stage] for i in range(num_layers))
