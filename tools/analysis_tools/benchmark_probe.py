# Copyright (c) veca_mm contributors. Apache-2.0.
"""What the frozen backbone saves: a linear probe against a full fine-tune
of the same model (same config, ``model.backbone.frozen`` True vs False).

Times ``model.train_step`` (forward, backward, optimizer step) on one fixed
batch of the config's own training pipeline, after warm-up, and prints the
seconds per iteration, the trainable parameters and the ratio:

    python tools/analysis_tools/benchmark_probe.py CONFIG [--iters 5] \
        [--warmup 1] [--cfg-options k=v ...]

e.g. VECA-B at 512 on the mini ADE20K (no weights needed):

    python tools/analysis_tools/benchmark_probe.py \
        configs/veca_linear_ade20k.py --cfg-options \
        train_dataloader.dataset.data_root=data/mini_ade20k/ADEChallengeData2016 \
        model.backbone.init_cfg=None train_dataloader.num_workers=0 \
        train_dataloader.persistent_workers=False
"""
import argparse
import statistics
import tempfile
import time

import torch
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import veca_mm  # noqa: F401  (registers the VECA modules)
from veca_mm.utils.cli import add_cfg_options_argument, config_scope, \
    load_config


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('--iters', type=int, default=5)
    p.add_argument('--warmup', type=int, default=1)
    add_cfg_options_argument(p)
    return p.parse_args(argv)


def time_mode(cfg, frozen, iters, warmup):
    cfg = cfg.copy()
    cfg.model.backbone.frozen = frozen
    cfg.work_dir = tempfile.mkdtemp(prefix='veca_probe_bench_')
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    model = runner.model
    optim = runner.build_optim_wrapper(cfg.optim_wrapper)
    batch = next(iter(runner.build_dataloader(cfg.train_dataloader)))
    model.train()
    times = []
    for i in range(warmup + iters):
        t0 = time.perf_counter()
        log = model.train_step(batch, optim)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    if not torch.isfinite(torch.as_tensor(float(log['loss']))):
        raise SystemExit(f'non-finite loss with frozen={frozen}')
    trainable = sum(p.numel() for g in optim.optimizer.param_groups
                    for p in g['params'])
    return statistics.median(times), trainable, tuple(
        model.data_preprocessor(batch, True)['inputs'].shape)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    init_default_scope(config_scope(cfg))
    rows = []
    for name, frozen in (('linear probe (frozen)', True),
                         ('full fine-tune', False)):
        sec, params, shape = time_mode(cfg, frozen, args.iters, args.warmup)
        rows.append((name, sec, params))
        print(f'{name}: {sec:.3f} s/iter, {params:,} trainable parameters, '
              f'batch {shape}', flush=True)
    probe, full = rows[0][1], rows[1][1]
    print(f'\nconfig: {args.config}, {torch.get_num_threads()} threads, '
          f'median of {args.iters} iterations after {args.warmup} warm-up')
    print('| mode | s / iteration | trainable parameters | time vs fine-tune |')
    print('|---|---:|---:|---:|')
    for name, sec, params in rows:
        print(f'| {name} | {sec:.3f} | {params:,} | {sec / full:.2f} |')
    print(f'the probe is {full / probe:.1f}x faster per iteration')
    return rows


if __name__ == '__main__':
    main()
