# Copyright (c) veca_mm contributors. Apache-2.0.
"""Make training randomness a function of (seed, position in the schedule).

mmengine seeds everything once, at start-up. Drop-path, dropout and mmdet's
RoI samplers then draw from a global torch stream whose position depends on
every forward so far, so a run resumed at iteration k draws different masks
from an uninterrupted one. Reseeding torch before each iteration makes the
masks of iteration k the same whether or not the run was resumed (the nested
core budgets are drawn this way too, see ``VECA.draw_train_budgets``).

Augmentations draw from numpy / ``random`` in the data loading process.
Iteration-based loops replay the first k batches on resume, which brings
those streams to the same state. Epoch-based loops restart at an epoch
boundary without a replay, so numpy and ``random`` are reseeded from
(seed, epoch) at the start of every epoch; with ``num_workers=0`` or
non-persistent workers (reseeded by mmengine's ``worker_init_fn`` each epoch)
that makes a resumed epoch draw what the uninterrupted one drew.
``persistent_workers=True`` in an epoch-based loop keeps its workers' streams
across epochs and cannot be reproduced this way.
"""
import random

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

_EPOCH_STREAM = 1_000_000_007  # keeps the epoch seeds apart from the iters'


def iteration_seed(seed: int, iteration: int, rank: int = 0) -> int:
    return (int(seed) * 1_000_003 + int(iteration) * 7_919 +
            int(rank) * 104_729) % (2**63 - 1)


@HOOKS.register_module()
class IterSeedHook(Hook):
    """Reseed torch per iteration, numpy and ``random`` per epoch.

    Before every training iteration torch's global generator is seeded from
    ``(seed, runner.iter, rank)``; before every training epoch numpy's and
    ``random``'s are seeded from ``(seed, epoch)`` (see the module
    docstring), so that a resumed run draws what an uninterrupted one draws.
    The seed is ``runner.seed`` (0 when unset); the rank enters only with
    ``randomness=dict(diff_rank_seed=True)``.

    The hook takes no arguments; ``tools/train.py`` adds it to every config
    (:data:`~veca_mm.engine.hooks.defaults.SAFETY_HOOKS`).
    """
    priority = 'VERY_HIGH'  # before any hook that might draw random numbers

    def _seed_and_rank(self, runner):
        randomness = getattr(runner, '_randomness_cfg', None) or {}
        rank = get_rank() if randomness.get('diff_rank_seed', False) else 0
        seed = runner.seed if runner.seed is not None else 0
        return seed, rank

    def before_train_epoch(self, runner) -> None:
        seed, rank = self._seed_and_rank(runner)
        s = iteration_seed(seed, _EPOCH_STREAM + runner.epoch, rank)
        np.random.seed(s % 2**32)
        random.seed(s)

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        seed, rank = self._seed_and_rank(runner)
        torch.manual_seed(iteration_seed(seed, runner.iter, rank))
