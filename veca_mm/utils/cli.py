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
