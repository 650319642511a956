# Copyright (c) veca_mm contributors. Apache-2.0.
"""What the tools share around a config: loading it with ``--cfg-options``
(``load_config``), building its model (``build_model``) and, for
``tools/train.py`` and ``tools/test.py``, the runner options, work dir and
runner build."""
import argparse
import os
import os.path as osp
from typing import Optional, Sequence, Tuple

from mmengine.config import Config, DictAction


def add_cfg_options_argument(parser: argparse.ArgumentParser) -> None:
    """``--cfg-options k=v ...``, merged into the config by
    ``load_config``."""
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


def parse_size(text: str) -> Tuple[int, int]:
    """An argparse ``type`` for image sizes: ``512`` -> (512, 512);
    ``512x1024`` -> (512, 1024) as H x W."""
    try:
        parts = [int(p) for p in text.lower().split('x')]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) < 1:
        raise argparse.ArgumentTypeError(
            f'bad size {text!r}: use N or HxW, e.g. 512 or 512x1024')
    return tuple(parts)


def add_runner_args(parser: argparse.ArgumentParser,
                    work_dir_help: str = 'the work dir') -> None:
    """``--work-dir``, ``--cfg-options``, ``--launcher`` and the launcher's
    ``--local-rank`` (what ``runner_config`` reads)."""
    parser.add_argument(
        '--work-dir',
        help=f'{work_dir_help} (default: ./work_dirs/<config name>)')
    add_cfg_options_argument(parser)
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


def load_config(path: str, cfg_options: Optional[dict] = None,
                random_init: bool = False) -> Config:
    """``Config.fromfile(path)`` with the ``--cfg-options`` merged in;
    ``random_init``: no pretrained backbone weights
    (``model.backbone.init_cfg = None``), for tools whose numbers do not
    depend on the weights."""
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if random_init:
        cfg.model.backbone.init_cfg = None
    return cfg


def config_scope(cfg: Config) -> str:
    """The config's ``default_scope`` (mmseg when it names none)."""
    return cfg.get('default_scope', None) or 'mmseg'


def build_model(cfg: Config, meta: bool = False):
    """``cfg.model`` built in the config's scope (``meta``: on the meta
    device, weightless: for FLOPs and shapes)."""
    import torch
    from mmengine.registry import MODELS, init_default_scope

    import veca_mm  # noqa: F401  (registers the VECA modules)
    init_default_scope(config_scope(cfg))
    if meta:
        with torch.device('meta'):
            return MODELS.build(cfg.model)
    return MODELS.build(cfg.model)


def runner_config(args) -> Config:
    """``args.config`` with ``--cfg-options``, ``--launcher`` and the work
    dir applied (CLI > config > ``./work_dirs/<config name>``)."""
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
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
