# Copyright (c) veca_mm contributors. Apache-2.0.
"""What the tools share around a config: loading it with ``--cfg-options``
(``load_config``), building its model (``build_model``) and, for
``tools/train.py`` and ``tools/test.py``, the runner options, work dir and
runner build.

And how every tool refuses bad input (issue #26): argparse types that reject
NaN, inf and out-of-range numbers (exit 2, naming the option), path checks
that run before anything is built (``check_input_file``,
``check_checkpoint_file``, ``check_output_dir``, ``check_output_file``,
``check_device``), and ``user_input_errors``, the context manager around a
tool's validation phase that turns the exceptions which signal bad input
into a ``ToolError``: exit status 1 and one line on stderr, no traceback.
"""
import argparse
import contextlib
import math
import os
import os.path as osp
import zipfile
from typing import Optional, Sequence, Tuple

from mmengine.config import Config, DictAction


# --------------------------------------------------------------------- #
# Refusing bad input: exit 1 with one line
class ToolError(SystemExit):
    """A tool refusing its input: ``SystemExit(message)``, so the
    interpreter prints the one-line message and exits with status 1."""

    def __str__(self):
        return str(self.code)


# The exception classes that, raised while a tool checks its arguments,
# config and files, mean "bad input" (a config value refused by a model's
# own argument checks, a missing path, an unreadable checkpoint, a registry
# name that does not exist). Anything else (AttributeError, IndexError,
# RuntimeError from torch, AssertionError ...) is a bug and keeps its
# traceback.
def _user_input_errors():
    from veca_mm.utils.safe_load import (CorruptCheckpointError,
                                         UnsafeCheckpointError)
    return (ValueError, TypeError, KeyError, OSError, CorruptCheckpointError,
            UnsafeCheckpointError)


class ConfigError(ValueError, RuntimeError):
    """The config lacks what a command-line option needs (a ValueError, bad
    input; also a RuntimeError, what the tools raised before)."""


_COMPAT = {}


def _exit_class(exc: BaseException) -> type:
    """``ToolError``, also an instance of ``exc``'s builtin class where the
    layouts allow it (``ValueError``, ``TypeError``, ``KeyError``,
    ``RuntimeError``), so in-process callers of ``main`` that catch those
    keep working; OSErrors have their own layout and become a plain
    ``ToolError``."""
    bases = tuple(b for b in (KeyError, ValueError, TypeError, RuntimeError)
                  if isinstance(exc, b))
    if not bases:
        return ToolError
    if bases not in _COMPAT:
        _COMPAT[bases] = type('Tool' + ''.join(b.__name__ for b in bases),
                              (ToolError, ) + bases,
                              {'__module__': __name__})
    return _COMPAT[bases]


def one_line(exc) -> str:
    """``exc``'s message (or ``exc`` itself, a string) on one line
    (a KeyError without its quotes)."""
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(
            exc.args[0], str):
        msg = exc.args[0]
    else:
        msg = str(exc)
    msg = ' '.join(line.strip() for line in msg.splitlines() if line.strip())
    return msg or type(exc).__name__


def tool_error(tool: str, exc) -> ToolError:
    """The ``ToolError`` for ``exc`` (an exception or a message)."""
    cls = _exit_class(exc) if isinstance(exc, BaseException) else ToolError
    return cls(f'{tool}: {one_line(exc)}')


@contextlib.contextmanager
def user_input_errors(tool: str):
    """Around a tool's checks (arguments, config, paths, model build):
    ValueError, TypeError, KeyError, OSError and veca_mm's checkpoint
    errors leave as a ``ToolError`` naming the tool (``train.py: ...``),
    one line, exit status 1. Other exceptions pass unchanged."""
    try:
        yield
    except SystemExit:
        raise
    except _user_input_errors() as e:
        raise tool_error(tool, e) from e


# --------------------------------------------------------------------- #
# argparse types
def _convert(text, convert, what):
    """``convert(text)``, or argparse's error ``'TEXT' is not WHAT``."""
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not {what}') from None


def number_type(lo: Optional[float] = None, hi: Optional[float] = None,
                lo_open: bool = False, allow_inf: bool = False):
    """An argparse ``type``: a float in the bounds; NaN (and inf unless
    ``allow_inf``) refused, so argparse exits 2 naming the option."""

    def number(text):
        value = _convert(text, float, 'a number')
        ok = not math.isnan(value) and (allow_inf or math.isfinite(value))
        if ok and lo is not None:
            ok = value > lo if lo_open else value >= lo
        if ok and hi is not None:
            ok = value <= hi
        if not ok:
            bounds = [f'{">" if lo_open else ">="} {lo:g}'] if lo is not None \
                else []
            bounds += [f'<= {hi:g}'] if hi is not None else []
            raise argparse.ArgumentTypeError(
                f'{text!r}: use a {"" if allow_inf else "finite "}number'
                f'{" " + " and ".join(bounds) if bounds else ""}')
        return value

    return number


def int_type(lo: Optional[int] = None, hi: Optional[int] = None):
    """An argparse ``type``: an int in ``[lo, hi]``."""

    def integer(text):
        value = _convert(text, int, 'an int')
        if (lo is not None and value < lo) or (hi is not None
                                               and value > hi):
            bounds = ([f'>= {lo}'] if lo is not None else []) + (
                [f'<= {hi}'] if hi is not None else [])
            raise argparse.ArgumentTypeError(
                f'{text!r}: use an int {" and ".join(bounds)}')
        return value

    return integer


# --------------------------------------------------------------------- #
# paths and devices, checked before anything is built or read
def _is_url(path) -> bool:
    return '://' in str(path)


def check_input_file(path, what: str) -> str:
    """``path`` exists and is a file (not a folder); FileNotFoundError /
    IsADirectoryError naming ``what`` and the path otherwise."""
    path = os.fspath(path)
    if not osp.exists(path):
        raise FileNotFoundError(f'{what} {path!r} does not exist')
    if osp.isdir(path):
        raise IsADirectoryError(f'{what} {path!r} is a directory, not a '
                                'file')
    return path


def check_checkpoint_file(path, what: str = 'checkpoint') -> str:
    """``path`` looks like a ``torch.save`` file (a zip archive with a
    ``data.pkl``, or a legacy pickle); only the header and the zip
    directory are read. URLs are left to the loader."""
    path = os.fspath(path)
    if _is_url(path):
        return path
    check_input_file(path, what)
    with open(path, 'rb') as f:
        head = f.read(4)
    if not head:
        raise ValueError(f'{what} {path!r} is an empty file, not a '
                         'checkpoint')
    if head == b'PK\x03\x04':
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            raise ValueError(f'{what} {path!r} is a damaged zip archive, '
                             f'not a checkpoint ({e})') from None
        if any(n.endswith('data.pkl') for n in names):
            return path
    elif head[:1] == b'\x80':  # pickle protocol >= 2 (legacy torch.save)
        return path
    raise ValueError(f'{what} {path!r} is not a PyTorch checkpoint (not a '
                     'torch.save file)')


def check_checkpoint_fits(cfg, path, what: str = 'checkpoint') -> str:
    """A checkpoint file that also fills the config's VECA backbone exactly
    (keys and shapes, against a weightless build): a file of another model
    is refused here, before the model is built, instead of loading with
    mmengine's missing-keys warning into a half-random model. Other
    backbones are left to the loader."""
    from veca_mm.apis import check_backbone_fits
    from veca_mm.utils.core_budgets import is_veca, meta_backbone
    check_checkpoint_file(path, what)
    backbone = (cfg.get('model') or {}).get('backbone')
    if isinstance(backbone, dict) and is_veca(backbone, config_scope(cfg)) and \
            not _is_url(os.fspath(path)):
        check_backbone_fits(meta_backbone(cfg), path)
    return path


def _first_existing(path: str) -> str:
    path = osp.abspath(path)
    while not osp.exists(path) and osp.dirname(path) != path:
        path = osp.dirname(path)
    return path


def check_output_dir(path, option: str) -> Optional[str]:
    """``path`` is a directory or can be made one (no file in the way);
    NotADirectoryError naming ``option`` otherwise. Nothing is created."""
    if path is None or _is_url(path):
        return path
    path = os.fspath(path)
    if not path:
        raise ValueError(f'{option} is empty')
    found = _first_existing(path)
    if not osp.isdir(found):
        raise NotADirectoryError(
            f'{option} {path!r}: {found!r} is a file, not a directory')
    return path


def check_output_file(path, option: str) -> str:
    """``path`` can be written as a file: not a directory, and no file in
    the way of its folder."""
    path = os.fspath(path)
    if not path:
        raise ValueError(f'{option} is empty')
    if osp.isdir(path):
        raise IsADirectoryError(f'{option} {path!r} is a directory, not a '
                                'file')
    check_output_dir(osp.dirname(osp.abspath(path)), option)
    return path


def check_device(value: str, option: str = '--device') -> str:
    """``cpu``, ``cuda`` or ``cuda:N`` for a device that is here."""
    import torch
    try:
        device = torch.device(value)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f'{option} {value!r} is not a device: use cpu, '
                         'cuda or cuda:N') from None
    if device.type == 'cpu':
        return value
    if device.type != 'cuda':
        raise ValueError(f'{option} {value!r}: use cpu, cuda or cuda:N')
    if not torch.cuda.is_available():
        raise ValueError(f'{option} {value!r}: no CUDA device here')
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f'{option} {value!r}: there are '
                         f'{torch.cuda.device_count()} CUDA devices')
    return value


# --------------------------------------------------------------------- #
# --cfg-options and configs
class CfgOptionsAction(DictAction):
    """mmengine's ``DictAction`` that refuses what it cannot parse
    (``key`` without ``=``, an empty key part, unbalanced brackets, input
    deep enough to recurse) as an argparse error naming the item (exit 2),
    instead of a ValueError / AssertionError / RecursionError traceback."""

    def __call__(self, parser, namespace, values, option_string=None):
        for kv in values or []:
            key, sep, _ = kv.partition('=')
            if not sep:
                raise argparse.ArgumentError(
                    self, f'{kv!r} is not key=value')
            if not key or not all(key.split('.')):
                raise argparse.ArgumentError(
                    self, f'{kv!r}: the key {key!r} has an empty part')
            try:
                super().__call__(parser, namespace, [kv], option_string)
            except (ValueError, TypeError, AssertionError, RecursionError,
                    SyntaxError) as e:
                raise argparse.ArgumentError(
                    self, f'{kv!r} cannot be parsed: '
                    f'{one_line(e) or type(e).__name__}') from None


def add_cfg_options_argument(parser: argparse.ArgumentParser) -> None:
    """``--cfg-options k=v ...``, merged into the config by
    ``load_config``."""
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
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
    parser.add_argument('--local_rank', '--local-rank', type=int_type(lo=0),
                        default=0)


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
    depend on the weights.

    A missing path, a file that is not a config (whatever executing or
    parsing it raises: it is the user's file), options that cannot be
    merged, and a ``model`` / ``model.backbone`` that is not a dict with a
    ``type`` are a ValueError / OSError naming the path or option."""
    path = check_input_file(path, 'config')
    try:
        cfg = Config.fromfile(path)
    except Exception as e:  # noqa: BLE001 - any error of the config's code
        raise ValueError(f'config {path!r} cannot be loaded: '
                         f'{type(e).__name__}: {one_line(e)}') from e
    if cfg_options:
        try:
            cfg.merge_from_dict(cfg_options)
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            raise ValueError(f'--cfg-options: {one_line(e)}') from e
    check_model_config(cfg, path)
    if random_init:
        cfg.model.backbone.init_cfg = None
    return cfg


def check_model_config(cfg, path: str = 'the config') -> None:
    """``model`` is a dict with a ``type``, and so is ``model.backbone``
    where there is one."""
    for key, value in (('model', cfg.get('model', None)), ):
        if not isinstance(value, dict) or 'type' not in value:
            raise ValueError(f'config {path!r}: {key} must be a dict with a '
                             f'type, got {_short(value)}')
    backbone = cfg.model.get('backbone', None)
    if 'backbone' in cfg.model and (not isinstance(backbone, dict)
                                    or 'type' not in backbone):
        raise ValueError(f'config {path!r}: model.backbone must be a dict '
                         f'with a type, got {_short(backbone)}')


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + '...'


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
