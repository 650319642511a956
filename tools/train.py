# Copyright (c) veca_mm contributors. Apache-2.0.
"""Train a segmentor (mmseg config) or a detector (mmdet config).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--auto-scale-lr] [--cfg-options k=v ...] [--launcher none|pytorch|..]

The config's ``default_scope`` ('mmseg' or 'mmdet') picks the registries;
the runner is ``Runner.from_cfg`` (or ``RUNNERS.build`` when the config sets
``runner_type``). The config's ``compile=True`` / ``compile=dict(...)``
compiles the backbone, not mmengine's whole ``train_step`` (see
docs/inference.md). Any config gets veca_mm's safety hooks (atomic checkpoints,
a stop at the first NaN loss, reproducible resumes; see
``veca_mm/engine/hooks``), each logged.
"""
import argparse
import logging

from mmengine.logging import print_log

import veca_mm  # noqa: F401  (registers the VECA backbone and neck)
from veca_mm.datasets import check_dataset_paths
from veca_mm.engine import add_safety_hooks
from veca_mm.utils.cli import (ConfigError, add_runner_args, build_runner,
                               check_checkpoint_file, check_output_dir,
                               compile_backbone, compile_options,
                               parse_runner_args, runner_config,
                               user_input_errors)
from veca_mm.utils.dist import prepare_cpu_distributed

TOOL = 'train.py'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Train a segmentor or detector (mmseg/mmdet config)')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from this checkpoint; with no value, resume from the '
        'latest checkpoint in the work dir')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic mixed precision training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the real batch size '
        '(needs `auto_scale_lr` in the config)')
    add_runner_args(parser, 'the dir to save logs and models')
    return parse_runner_args(parser, argv)


def _amp_available():
    from mmengine.device import (is_cuda_available, is_mlu_available,
                                 is_musa_available, is_npu_available)
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


def enable_amp(cfg):
    """Switch the optim_wrapper to ``AmpOptimWrapper`` (dynamic loss scale).

    mmengine's ``AmpOptimWrapper`` only runs on GPU/NPU/MLU/MUSA; without
    one, this warns and keeps full precision instead of crashing.
    """
    optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if optim_wrapper in ('AmpOptimWrapper', 'mmengine.AmpOptimWrapper'):
        print_log('AMP training is already enabled in your config.',
                  logger='current', level=logging.WARNING)
        return cfg
    if not _amp_available():
        print_log('--amp ignored: mmengine AmpOptimWrapper needs a '
                  'GPU/NPU/MLU/MUSA device; training in full precision.',
                  logger='current', level=logging.WARNING)
        return cfg
    if optim_wrapper not in ('OptimWrapper', 'mmengine.OptimWrapper'):
        raise ConfigError(
            '--amp is only supported when the optimizer wrapper type is '
            f'OptimWrapper, but the config has {optim_wrapper!r}.')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.loss_scale = 'dynamic'
    return cfg


def build_cfg(args):
    """The config, with every command-line option applied."""
    cfg = runner_config(args)
    if args.amp:
        enable_amp(cfg)

    if args.auto_scale_lr:
        scale = cfg.get('auto_scale_lr', None)
        if scale is None or 'base_batch_size' not in scale:
            raise ConfigError(
                '--auto-scale-lr needs `auto_scale_lr = dict(enable=False, '
                'base_batch_size=...)` in the config; this one has none.')
        cfg.auto_scale_lr.enable = True

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def check_paths(args, cfg):
    """The files and folders named on the command line (and the work dir),
    before anything is built."""
    if args.resume not in (None, 'auto'):
        check_checkpoint_file(args.resume, '--resume')
    check_output_dir(cfg.work_dir, '--work-dir' if args.work_dir is not None
                     else 'work_dir')


def main(argv=None):
    args = parse_args(argv)
    # bad input (paths, config, options, the model's own argument checks):
    # one line and exit status 1, before any data is read
    with user_input_errors(TOOL):
        cfg = build_cfg(args)
        check_paths(args, cfg)
        # A wrong data_root fails here, naming the path and the layout doc,
        # instead of deep inside the dataset after the model is built.
        check_dataset_paths(cfg, splits=('train', 'val'))
        prepare_cpu_distributed(cfg, args.launcher)
        changes = add_safety_hooks(cfg)
        # mmengine would compile the whole train_step (optimizer included),
        # which dynamo cannot trace here; compile the backbone instead.
        compile_opts = compile_options(cfg)
        runner = build_runner(cfg)
    for change in changes:
        runner.logger.info(f'veca_mm safety: {change}')
    if compile_opts is not None:
        backbone = compile_backbone(runner.model, compile_opts)
        runner.logger.info(
            f'veca_mm compile: torch.compile({type(backbone).__name__}, '
            f'**{compile_opts}) in place; the neck, head, loss and optimizer '
            'step run eager (docs/inference.md)')
    runner.train()
    # Tear gloo/NCCL down before interpreter exit: a process group left to
    # the exit handlers can abort a rank ('terminate called without an
    # active exception') after training finished.
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


if __name__ == '__main__':
    main()
