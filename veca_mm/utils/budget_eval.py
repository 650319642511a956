# Copyright (c) veca_mm contributors. Apache-2.0.
"""One checkpoint scored and timed at one core schedule, the way
``tools/analysis_tools/budget_sweep.py`` and ``choose_budget.py`` both do
it: the config's own test loop (whatever its evaluator: mIoU, depth RMSE,
COCO mAP or PQ) and the latency of the backbone and the whole model on one
test batch."""
import numbers
import os.path as osp
import statistics
import time

from .core_budgets import apply_core_budgets

__all__ = [
    'PRIMARY', 'LOWER_IS_BETTER', 'lower_is_better', 'pick_metric',
    'time_model', 'evaluate_schedule'
]

# The metric to report when none is asked for: the first present.
# Panoptic PQ before COCO mAP: Mask2Former panoptic configs report both.
PRIMARY = ('mIoU', 'rmse', 'coco_panoptic/PQ', 'coco/segm_mAP',
           'coco/bbox_mAP', 'abs_rel')
# Metrics where smaller is better (the depth errors).
LOWER_IS_BETTER = ('rmse', 'abs_rel', 'sq_rel', 'rmse_log', 'log10',
                   'silog')
# Columns of an evaluated row that are not metrics.
NOT_METRICS = ('budgets', 'schedule', 'input_hw', 'latency_ms',
               'backbone_ms', 'model_ms', 'backbone_gflops', 'pareto')


def lower_is_better(metric: str) -> bool:
    """Whether smaller values of ``metric`` (``rmse``, ``depth/rmse``...)
    are better."""
    return metric.split('/')[-1] in LOWER_IS_BETTER


def pick_metric(row: dict, metric=None):
    """(the metric to report, every metric of an evaluated row): ``metric``
    if given, else the first of ``PRIMARY`` present, else the first."""
    keys = [k for k in row if k not in NOT_METRICS]
    if not keys:
        raise ValueError('the test loop returned no numeric metric')
    if metric is None:
        return next((m for m in PRIMARY if m in keys), keys[0]), keys
    if metric not in keys:
        raise ValueError(f'--metric {metric!r} is not among the '
                         f'evaluator\'s metrics {keys}')
    return metric, keys


def time_model(runner, repeats: int):
    """Median seconds of backbone and whole-model inference on the first
    test batch, and the input's size."""
    import torch
    model = runner.model
    model.eval()
    batch = next(iter(runner.test_dataloader))
    inputs = model.data_preprocessor(batch, False)['inputs']
    times = dict(backbone=[], model=[])
    # GPU work is asynchronous: wait for it before reading the clock
    sync = torch.cuda.synchronize if inputs.is_cuda else (lambda: None)
    with torch.inference_mode():
        model.test_step(batch)  # warm-up
        for _ in range(repeats):
            sync()
            t0 = time.perf_counter()
            model.backbone(inputs)
            sync()
            times['backbone'].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            model.test_step(batch)
            sync()
            times['model'].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}, tuple(
        inputs.shape[-2:])


def evaluate_schedule(cfg, checkpoint: str, budgets, work_dir: str,
                      repeats: int) -> dict:
    """One schedule (a tuple of per-stage budgets) through the config's own
    test loop, plus its timing: ``budgets``, ``input_hw``,
    ``backbone_ms``, ``model_ms`` and every numeric metric."""
    from mmengine.runner import Runner
    run_cfg = apply_core_budgets(cfg.copy(), list(budgets))
    run_cfg.load_from = checkpoint
    run_cfg.work_dir = osp.join(work_dir, 'runs')
    run_cfg.log_level = 'WARNING'
    run_cfg.default_hooks = run_cfg.get('default_hooks', {})
    run_cfg.default_hooks.pop('visualization', None)
    runner = Runner.from_cfg(run_cfg)
    metrics = runner.test()
    timing, size = time_model(runner, repeats)
    row = dict(budgets=list(budgets), input_hw=list(size),
               backbone_ms=timing['backbone'] * 1e3,
               model_ms=timing['model'] * 1e3)
    row.update({k: float(v) for k, v in metrics.items()
                if isinstance(v, numbers.Real)})
    return row
