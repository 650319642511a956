# Copyright (c) veca_mm contributors. Apache-2.0.
"""What ``tools/train.py`` and ``tools/test.py`` share: the runner options,
config loading with ``--cfg-options``/``--work-dir``, and the runner build."""
import argparse
import os
import os.path as osp
from typing import Optional, Sequence

from mmengine.config import Config, DictAction


def add_runner_args(parser: argparse.ArgumentParser) -> None:
    """``--cfg-options``, ``--launcher`` and the launcher's ``--local-rank``."""
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file. If the value to '
        'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
        'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
        'Note that the quotation marks are necessary and that no white space '
        'is allowed.')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank (torch >= 2.0) or
    # --local_rank; torchrun only sets the LOCAL_RANK environment variable.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_runner_args(parser: argparse.ArgumentParser,
                      argv: Optional[Sequence[str]] = None):
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def default_work_dir(config_path: str) -> str:
    return osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def load_config(args) -> Config:
    """``args.config`` with ``--cfg-options``, ``--launcher`` and the work
    dir applied (CLI > config > ``./work_dirs/<config name>``)."""
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = default_work_dir(args.config)
    return cfg


def build_runner(cfg: Config):
    """``Runner.from_cfg``, or ``RUNNERS.build`` when the config sets
    ``runner_type``."""
    if 'runner_type' not in cfg:
        from mmengine.runner import Runner
        runner = Runner.from_cfg(cfg)
    else:
        from mmengine.registry import RUNNERS
        runner = RUNNERS.build(cfg)
    # mmengine loads load_from non-strictly and only logs what it could not
    # place; a half-loaded backbone is an error here (mmseg #1288).
    from veca_mm.apis import check_load_from
    check_load_from(runner.model, cfg.get('load_from'))
    return runner


def compile_options(cfg: Config) -> Optional[dict]:
    """Take the config's ``compile`` (``True`` or ``torch.compile`` kwargs)
    away from mmengine and return it as a dict, or ``None`` when off.

    mmengine 0.10.7's ``Runner.train`` compiles the whole ``train_step``,
    optimizer step included. On torch 2.14.1 dynamo then fails in its
    optimizer tracing, because mmengine's registry turns the optimizer's
    param groups into ``ConfigDict``s (``UserDefinedDictVariable ... no
    attribute 'items'``); with plain-dict groups it runs, but splits into
    many graphs (mmengine's locks and logging break it) and keeps
    recompiling (24 graphs in 6 iterations; docs/inference.md).
    veca_mm compiles the backbone instead (``compile_backbone``): the
    optimizer step stays eager and there is one graph per core budget.
    """
    opts = cfg.pop('compile', None)
    if opts is None or opts is False:
        return None
    if opts is True:
        return {}
    if not isinstance(opts, dict):
        raise TypeError(f'compile must be True, False or a dict of '
                        f'torch.compile options, got {opts!r}')
    opts = dict(opts)
    if 'target' in opts:
        raise ValueError(
            f'compile.target={opts["target"]!r} is not supported: veca_mm '
            'compiles the backbone forward (see docs/inference.md); remove '
            'compile.target.')
    return opts


def compile_backbone(model, options: Optional[dict] = None):
    """``torch.compile`` the backbone in place (``nn.Module.compile``: same
    parameters and state-dict keys, so checkpoints save and load
    unchanged); returns the backbone."""
    from mmengine.model import is_model_wrapper
    if is_model_wrapper(model):
        model = model.module
    if getattr(model, 'backbone', None) is None:  # a TTA wrapper
        model = getattr(model, 'module', model)
    backbone = getattr(model, 'backbone', None)
    if backbone is None:
        raise ValueError('compile: the model has no backbone to compile')
    kwargs = dict(options) if isinstance(options, dict) else {}
    backbone.compile(**kwargs)
    return backbone
