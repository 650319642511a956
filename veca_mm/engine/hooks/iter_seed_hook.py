# Copyright (c) veca_mm contributors. Apache-2.0.
"""Make the model's randomness a function of (seed, iteration).

mmengine seeds torch once, at start-up. Drop-path, dropout and mmdet's RoI
samplers then draw from a global stream whose position depends on every
forward so far, so a run resumed at iteration k draws different masks from
an uninterrupted one. Reseeding torch before each iteration makes the masks
of iteration k the same whether or not the run was resumed (the nested core
budgets are already drawn this way, see ``VECA.draw_train_budgets``).

Data augmentation is not affected: mmengine's ``IterBasedTrainLoop`` replays
the first k batches on resume, and the dataloader workers (or, with
``num_workers=0``, numpy's global stream) are seeded at start-up, so the
transforms reach iteration k in the same state.
"""
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


def iteration_seed(seed: int, iteration: int, rank: int = 0) -> int:
    return (int(seed) * 1_000_003 + int(iteration) * 7_919 +
            int(rank) * 104_729) % (2**63 - 1)


@HOOKS.register_module()
class IterSeedHook(Hook):
    priority = 'VERY_HIGH'  # before any hook that might draw random numbers

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        randomness = getattr(runner, '_randomness_cfg', None) or {}
        rank = get_rank() if randomness.get('diff_rank_seed', False) else 0
        seed = runner.seed if runner.seed is not None else 0
        torch.manual_seed(iteration_seed(seed, runner.iter, rank))
