# Copyright (c) veca_mm contributors. Apache-2.0.
"""Test a checkpoint of a segmentor (mmseg config) or detector (mmdet config).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out PATH]
        [--show] [--show-dir DIR] [--wait-time S] [--core-budgets C [C ...]]
        [--tta] [--compile] [--dtype fp32|bf16]
        [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]

``--core-budgets 16`` evaluates the VECA backbone with 16 cores in every
stage; ``--core-budgets 64 32 16 8`` gives one budget per stage. One trained
checkpoint serves every budget.

``--out``: mmseg configs write prediction PNGs to this directory (the
evaluator's ``output_dir``); mmdet configs dump the predictions to this
``.pkl`` file (``DumpDetResults``).
``--show-dir``: mmseg saves the drawn images under
``DIR/vis_data/vis_image/``; mmdet saves them directly in ``DIR``.
``--compile``: ``torch.compile`` the backbone (with the config's
``compile=dict(...)`` options, if any); same outputs, one graph per budget.
``--dtype bf16``: bfloat16 autocast for the test step (mmengine's
``TestLoop(fp16=True)``, bf16 on CPU and here on CUDA too). See
docs/inference.md for the measured effects.
"""
import argparse
import os.path as osp

from mmengine.config import ConfigDict

import veca_mm  # noqa: F401  (registers the VECA backbone and neck)
from veca_mm.datasets import check_dataset_paths
from veca_mm.utils.cli import (ConfigError, add_runner_args, build_runner,
                               check_checkpoint_file, check_output_dir,
                               check_output_file, compile_backbone)
from veca_mm.utils.cli import config_scope as scope_of
from veca_mm.utils.cli import (number_type, parse_runner_args, runner_config,
                               user_input_errors)
from veca_mm.utils.core_budgets import (add_core_budgets_argument,
                                        apply_core_budgets,
                                        parse_core_budgets)
from veca_mm.utils.dist import prepare_cpu_distributed
from veca_mm.utils.type_names import type_name

__all__ = ['parse_core_budgets', 'apply_core_budgets', 'build_cfg', 'main']

TOOL = 'test.py'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) a segmentor or detector checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--out',
        type=str,
        help='mmseg: directory for the prediction PNGs; '
        'mmdet: .pkl file to dump the predictions to')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory where painted images will be saved. If specified, '
        'the painted images are saved instead of shown')
    parser.add_argument(
        '--wait-time', type=number_type(lo=0), default=2, help='the interval of show (s)')
    add_core_budgets_argument(parser)
    parser.add_argument(
        '--compile', action='store_true',
        help='torch.compile the backbone (options: the config\'s '
        'compile=dict(...))')
    parser.add_argument(
        '--dtype', choices=['fp32', 'bf16'], default='fp32',
        help='bf16: run the test step under bfloat16 autocast')
    add_runner_args(parser, 'where the evaluation metrics are saved')
    parser.add_argument(
        '--tta', action='store_true', help='test time augmentation')
    return parse_runner_args(parser, argv)


def trigger_visualization_hook(cfg, show=False, show_dir=None, wait_time=2):
    """Turn on ``default_hooks.visualization`` for ``--show``/``--show-dir``.

    ``SegVisualizationHook`` (mmseg) draws through the visualizer, whose
    ``LocalVisBackend`` saves under ``visualizer.save_dir`` (every image,
    unless the config sets the hook's ``interval``);
    ``DetVisualizationHook`` (mmdet) writes files to its ``test_out_dir``.
    """
    if not show and not show_dir:
        return cfg
    default_hooks = cfg.get('default_hooks', None) or {}
    if 'visualization' not in default_hooks:
        raise ConfigError(
            '--show/--show-dir need a visualization hook in default_hooks: '
            'refer to the usage '
            '`visualization=dict(type=\'VisualizationHook\')`')
    hook = default_hooks['visualization']
    hook['draw'] = True
    if type_name(hook) == 'SegVisualizationHook':
        # mmseg's hook draws every `interval`-th image only (50 by default);
        # --show/--show-dir mean every image unless the config says otherwise
        hook.setdefault('interval', 1)
    if show:
        hook['show'] = True
        hook['wait_time'] = wait_time
    if show_dir:
        show_dir = osp.abspath(osp.expanduser(show_dir))
        hook_type = type_name(hook)
        if hook_type == 'DetVisualizationHook' or (
                hook_type not in ('SegVisualizationHook', )
                and scope_of(cfg) == 'mmdet'):
            hook['test_out_dir'] = show_dir
        else:
            if cfg.get('visualizer', None) is None:
                raise ConfigError('--show-dir needs a `visualizer` in the '
                                  'config')
            cfg.visualizer['save_dir'] = show_dir
    return cfg


def setup_out(cfg, out):
    """mmseg: prediction PNGs into ``out``; mmdet: a ``DumpDetResults``
    metric writing ``out`` (.pkl) appended to the test evaluator."""
    if out is None:
        return cfg
    if scope_of(cfg) == 'mmdet':
        if not out.endswith(('.pkl', '.pickle')):
            raise ValueError('--out for an mmdet config must be a .pkl or '
                             f'.pickle file, got {out!r}')
        check_output_file(out, '--out')
        evaluator = cfg.test_evaluator
        metrics = list(evaluator) if isinstance(evaluator,
                                                (list, tuple)) else [evaluator]
        metrics.append(ConfigDict(type='DumpDetResults', out_file_path=out))
        cfg.test_evaluator = metrics
    else:
        check_output_dir(out, '--out')
        evaluator = cfg.test_evaluator
        targets = evaluator if isinstance(evaluator,
                                          (list, tuple)) else [evaluator]
        for metric in targets:
            metric['output_dir'] = out
            metric['keep_results'] = True
    return cfg


def setup_tta(cfg):
    """Wrap the model in the config's ``tta_model`` and test with its
    ``tta_pipeline``."""
    if 'tta_pipeline' not in cfg:
        raise ConfigError('--tta needs a `tta_pipeline` in the config')
    if 'tta_model' not in cfg:
        if scope_of(cfg) != 'mmdet':
            raise ConfigError('--tta needs a `tta_model` in the config')
        cfg.tta_model = dict(
            type='DetTTAModel',
            tta_cfg=dict(
                nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    cfg.tta_model.module = cfg.model
    cfg.model = cfg.tta_model
    return cfg


def drop_training_settings(cfg):
    """Testing needs no training set-up: without it the runner never builds
    the train loop, which mmseg's ``SegVisualizationHook`` would otherwise do
    (through ``runner.iter``), loading the training set for nothing (and
    failing where only the test data is present)."""
    for key in ('train_dataloader', 'train_cfg', 'optim_wrapper',
                'param_scheduler'):
        if key in cfg:
            cfg[key] = None
    return cfg


def apply_dtype(cfg, dtype):
    """``--dtype bf16``: mmengine's ``TestLoop`` runs ``test_step`` under its
    ``autocast`` when ``fp16=True``; that is bf16 on CPU, and on CUDA once the
    process's CUDA autocast dtype is bf16 (set here). ``CastWeightsHook``
    casts VECA's linear weights once per test epoch."""
    if dtype == 'fp32':
        return cfg
    if dtype != 'bf16':
        raise ValueError(f'--dtype must be fp32 or bf16, got {dtype!r}')
    test_cfg = cfg.get('test_cfg', None) or ConfigDict(type='TestLoop')
    loop = type_name(test_cfg) or 'TestLoop'
    if loop != 'TestLoop':
        raise ValueError(
            f'--dtype bf16 needs mmengine\'s TestLoop (it has the '
            f'fp16/autocast switch); the config uses {loop!r}')
    test_cfg['fp16'] = True
    cfg.test_cfg = test_cfg
    # VECA's linear weights cast once per test epoch, not in every forward
    cfg.custom_hooks = list(cfg.get('custom_hooks', None) or []) + [
        dict(type='CastWeightsHook', dtype='bf16')]
    import torch
    torch.set_autocast_dtype('cuda', torch.bfloat16)
    return cfg


def build_cfg(args):
    """The config, with every command-line option applied."""
    cfg = runner_config(args)
    cfg.load_from = args.checkpoint
    drop_training_settings(cfg)
    apply_core_budgets(cfg, args.core_budgets)
    trigger_visualization_hook(cfg, args.show, args.show_dir, args.wait_time)
    if args.tta:
        setup_tta(cfg)
    setup_out(cfg, args.out)
    apply_dtype(cfg, args.dtype)
    return cfg


def check_paths(args, cfg):
    """The checkpoint (a torch.save file) and the folders to write, before
    anything is built."""
    check_checkpoint_file(args.checkpoint, 'checkpoint')
    check_output_dir(cfg.work_dir, '--work-dir' if args.work_dir is not None
                     else 'work_dir')
    if args.show_dir:
        check_output_dir(args.show_dir, '--show-dir')


def main(argv=None):
    args = parse_args(argv)
    # bad input (paths, config, options, the model's own argument checks,
    # the checkpoint's keys): one line and exit status 1, before any data is
    # read
    with user_input_errors(TOOL):
        cfg = build_cfg(args)
        check_paths(args, cfg)
        check_dataset_paths(cfg, splits=('test', ))
        prepare_cpu_distributed(cfg, args.launcher)
        runner = build_runner(cfg)
        if args.compile:
            compile_backbone(runner.model, cfg.get('compile', None))
    return runner.test()


if __name__ == '__main__':
    main()
