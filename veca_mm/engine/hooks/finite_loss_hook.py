# Copyright (c) veca_mm contributors. Apache-2.0.
"""Stop training at the first NaN/Inf loss, before anything is saved.

Without it a diverged run keeps going, logs ``nan`` for hours and overwrites
the good checkpoints with NaN weights. This hook runs after each iteration
and before ``CheckpointHook`` (higher priority), so the iteration that went
non-finite is never written to disk, and it says which iteration, which core
budget was in use and which checkpoint to resume from.
"""
import math
from typing import Optional

import torch
import torch.distributed as torch_dist
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or Inf."""


def _budgets_in_use(model) -> Optional[str]:
    from veca_mm.models.backbones.veca import VECA
    found = []
    for name, module in model.named_modules():
        if isinstance(module, VECA) and module.last_budgets is not None:
            b = tuple(module.last_budgets)
            nested = module.train_core_budgets is not None
            desc = f'C={b[0]}' if len(set(b)) == 1 else \
                f'per-stage C={b}'
            desc += ' (nested draw)' if nested else ''
            found.append(f'{name or "backbone"}: {desc}')
    return '; '.join(found) if found else None


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Raise :class:`NonFiniteLossError` when a loss is NaN or Inf.

    Args:
        interval (int): Check every ``interval`` training iterations; 1
            means no non-finite step can ever reach a checkpoint.
            Defaults to 1.
    """
    priority = 'ABOVE_NORMAL'  # before LoggerHook and CheckpointHook

    def __init__(self, interval: int = 1):
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(
                f'FiniteLossHook interval must be an int >= 1, got '
                f'{interval!r}.')
        self.interval = interval

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if not self.every_n_train_iters(runner, self.interval):
            return
        bad = {}
        for key, value in (outputs or {}).items():
            if 'loss' not in key:
                continue
            value = float(value.detach().float().sum()) if \
                torch.is_tensor(value) else float(value)
            if not math.isfinite(value):
                bad[key] = value
        # One rank's NaN is every rank's problem: stop them all together
        # rather than leave the others waiting in the next all-reduce.
        flag = torch.tensor([1.0 if bad else 0.0])
        if torch_dist.is_available() and torch_dist.is_initialized() \
                and torch_dist.get_world_size() > 1:
            if torch_dist.get_backend() == 'nccl':
                flag = flag.cuda()
            torch_dist.all_reduce(flag, op=torch_dist.ReduceOp.MAX)
        if float(flag) == 0:
            return

        it = runner.iter + 1  # as the log prints it: Iter(train) [it/max]
        model = getattr(runner.model, 'module', runner.model)
        budgets = _budgets_in_use(model) or 'no VECA backbone found'
        values = ', '.join(f'{k}={v}' for k, v in bad.items()) or \
            'non-finite on another rank'
        last = runner.message_hub.get_info('last_ckpt')
        if last:
            keep = (f'The last good checkpoint is {last} (nothing from this '
                    f'iteration was saved); resume from it with '
                    f'`python tools/train.py CONFIG --resume {last}`')
        else:
            keep = ('No checkpoint had been written yet; nothing from this '
                    'iteration was saved')
        raise NonFiniteLossError(
            f'Loss became non-finite at iteration {it}/{runner.max_iters} '
            f'({values}); core budget in use: {budgets}. Training stopped. '
            f'{keep}, after lowering the learning rate, adding gradient '
            f'clipping (optim_wrapper.clip_grad=dict(max_norm=1.0)) or '
            f'checking the data of this iteration.')
